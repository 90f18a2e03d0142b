// Synthetic teacher–student data (README, The science §2): x ~ N(0, Sigma_x), y = V x + eps,
// eps ~ N(0, Sigma_eps), with, by default, geometric diagonals
//     Sigma_x   = x_var     * diag(1, x_decay, x_decay^2, ...)            (dx x dx)
//     V         = teacher_scale * diag(1, teacher_decay, ...)             (dy x dx, zero elsewhere)
//     Sigma_eps = noise_var * diag(1, noise_decay, ...)                  (dy x dy)
// or any of the three given explicitly (data.x_cov, data.noise_cov: a list of eigenvalues or a full
// symmetric positive semidefinite matrix; data.teacher: any dy x dx matrix).
//
// A diagonal covariance is sampled coordinate by coordinate, x_j = sqrt(Sigma_jj) z_j, as it always
// was. A full one through a factor F with F F^T = Sigma from Eigen's pivoted LDL^T decomposition
// (Sigma = P^T L D L^T P, F = P^T L D^{1/2}: only + - * / and sqrt, so the same bits on every CPU,
// and semidefinite matrices are fine): x = F z, z ~ N(0, I), the dx normals of a row drawn in
// order. In finite mode a point trains on n samples drawn once from its `data` stream; in online
// mode every batch is fresh (population SGD) and full-batch quantities are those of the population.
//
// The population is represented exactly by a moment-matched reference set of m = dx + dy rows,
//     X_ref = sqrt(m) [F_x^T; 0],   Y_ref = [sqrt(m) F_x^T V^T; sqrt(m) F_eps^T],
// (F the factors above, F F^T = Sigma; diag(sqrt(Sigma_jj)) for a diagonal one) whose row means
// of x x^T, y x^T, y y^T are Sigma_x, V Sigma_x, V Sigma_x V^T + Sigma_eps. For a
// model whose loss is quadratic in (x, y) (Model::quadratic_in_data) the mean loss, gradient and
// Hessian over this set equal the population's.
#pragma once

#include <optional>
#include <string>

#include "symsweep/model.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

class ParamSet;
class NormalSource;
class Stream;
struct Value;

/// The [data] section at one point.
struct DataSpec {
  bool online = false;
  Index n = 0;  ///< finite mode only
  Index dx = 1, dy = 1;
  double x_var = 1, x_decay = 1;
  double teacher_scale = 1, teacher_decay = 1;
  double noise_var = 0, noise_decay = 1;
  /// Explicit Sigma_x (dx x dx), Sigma_eps (dy x dy) and V (dy x dx). A covariance given as one
  /// row of d values is diagonal with those eigenvalues. Empty: the geometric construction.
  Matrix x_cov, noise_cov, teacher;

  static DataSpec from(const ParamSet& params, Index dx, Index dy);
};

/// A Matrix-kind value as a matrix (rows x cols; empty for an empty value).
Matrix matrix_value(const Value& v);
/// What is wrong with `m` as a covariance of dimension d (a full d x d symmetric positive
/// semidefinite matrix, or one row of d values >= 0); d < 0 leaves the size unchecked. Nothing
/// when it is fine. The text completes "data.x_cov = '...': ".
std::optional<std::string> covariance_problem(const Matrix& m, Index d = -1);

/// A set of samples, one per row.
struct SampleSet {
  RowMatrix x;  ///< rows x dx
  RowMatrix y;  ///< rows x dy
  Index size() const { return x.rows(); }
  Batch batch() const { return Batch{x, y}; }
};

/// The data moments of a sample set (the full objective's: the dataset, or the population's
/// moment-matched reference set online, whose moments are the teacher's): Sigma_x = E x x^T,
/// V = E[y x^T] Sigma_x^{-1} and Sigma_eps = E y y^T - V Sigma_x V^T (symmetrised), the means
/// over the set's rows. The models' closed-form equilibria are written in them.
void data_moments(const Batch& full, Matrix& sigma_x, Matrix& v, Matrix& sigma_eps);

/// The data distribution of one point.
class Teacher {
 public:
  explicit Teacher(const DataSpec& spec);

  /// Fills every row of x and y with fresh samples (dx normals for x, then dy for the noise, row
  /// by row). Allocation-free.
  void sample(NormalSource& normal, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const;
  /// The same numbers, drawn from a Stream in blocks (Stream::normals) where both covariances
  /// are diagonal, and with y += x V^T as one product per element where V is diagonal with a
  /// nonzero diagonal and dy <= dx (the default teacher at dx >= dy). Bit for bit the values of
  /// the overload above (a difference would need an x element drawn exactly zero and its noise
  /// zero too: then a zero's sign). Allocation-free.
  void sample(Stream& stream, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const;
  /// n fresh samples.
  SampleSet sample(NormalSource& normal, Index n) const;
  /// The moment-matched reference set of the population (see above).
  SampleSet reference_set() const;

  Index input_dim() const { return x_.cov.rows(); }
  Index output_dim() const { return noise_.cov.rows(); }
  const Matrix& input_cov() const { return x_.cov; }      ///< Sigma_x
  const Matrix& noise_cov() const { return noise_.cov; }  ///< Sigma_eps
  const Matrix& teacher() const { return v_; }
  /// F_x and F_eps: F F^T = Sigma (diagonal for a diagonal Sigma).
  const Matrix& input_factor() const { return x_.factor; }
  const Matrix& noise_factor() const { return noise_.factor; }

 private:
  /// One Gaussian: its covariance, exactly as specified, and how it is sampled.
  struct Gaussian {
    Matrix cov;
    bool diagonal = true;
    Vector std;     // diagonal: sqrt(diag(cov))
    Matrix factor;  // F F^T = cov
    explicit Gaussian(const Matrix& cov_in);
    /// out = F z for the next cov.rows() normals z; z is scratch of that length.
    void draw(NormalSource& normal, Eigen::Ref<RowMatrix> out, Index row, Vector& z) const;
  };
  Gaussian x_, noise_;
  Matrix v_;                // dy x dx
  bool v_diagonal_ = true;  // dy <= dx and V's nonzero elements are its whole main diagonal
  // Scratch of sample() (a Teacher belongs to one point, run by one thread): z_ for full
  // covariances, block_ for the normals of up to block_rows_ rows at once.
  mutable Vector z_;
  Index block_rows_ = 1;
  mutable Vector block_;
};

}  // namespace symsweep
