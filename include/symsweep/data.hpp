// Synthetic teacher–student data (SCIENCE.md Sec. 2): x ~ N(0, Sigma_x), y = V x + eps,
// eps ~ N(0, Sigma_eps), with
//     Sigma_x   = x_var     * diag(1, x_decay, x_decay^2, ...)            (dx x dx)
//     V         = teacher_scale * diag(1, teacher_decay, ...)             (dy x dx, zero elsewhere)
//     Sigma_eps = noise_var * diag(1, noise_decay, ...)                  (dy x dy)
// In finite mode a point trains on n samples drawn once from its `data` stream; in online mode
// every batch is fresh (population SGD) and full-batch quantities are those of the population.
//
// The population is represented exactly by a moment-matched reference set of m = dx + dy rows,
//     X_ref = sqrt(m) [Sigma_x^{1/2}; 0],   Y_ref = [sqrt(m) Sigma_x^{1/2} V^T; sqrt(m)
//     Sigma_eps^{1/2}],
// whose row means of x x^T, y x^T, y y^T are Sigma_x, V Sigma_x, V Sigma_x V^T + Sigma_eps. For a
// model whose loss is quadratic in (x, y) (Model::quadratic_in_data) the mean loss, gradient and
// Hessian over this set equal the population's.
#pragma once

#include "symsweep/model.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

class ParamSet;
class NormalSource;

/// The [data] section at one point.
struct DataSpec {
  bool online = false;
  Index n = 0;  ///< finite mode only
  Index dx = 1, dy = 1;
  double x_var = 1, x_decay = 1;
  double teacher_scale = 1, teacher_decay = 1;
  double noise_var = 0, noise_decay = 1;

  static DataSpec from(const ParamSet& params, Index dx, Index dy);
};

/// A set of samples, one per row.
struct SampleSet {
  RowMatrix x;  ///< rows x dx
  RowMatrix y;  ///< rows x dy
  Index size() const { return x.rows(); }
  Batch batch() const { return Batch{x, y}; }
};

/// The data distribution of one point.
class Teacher {
 public:
  explicit Teacher(const DataSpec& spec);

  /// Fills every row of x and y with fresh samples (dx normals for x, then dy for the noise, row
  /// by row). Allocation-free.
  void sample(NormalSource& normal, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const;
  /// n fresh samples.
  SampleSet sample(NormalSource& normal, Index n) const;
  /// The moment-matched reference set of the population (see above).
  SampleSet reference_set() const;

  Index input_dim() const { return x_var_.size(); }
  Index output_dim() const { return noise_var_.size(); }
  Matrix input_cov() const;  ///< Sigma_x
  Matrix noise_cov() const;  ///< Sigma_eps
  const Matrix& teacher() const { return v_; }

 private:
  Vector x_var_, noise_var_;  // diag(Sigma_x), diag(Sigma_eps), exactly as specified
  Vector x_std_, noise_std_;  // their square roots
  Matrix v_;                  // dy x dx
};

}  // namespace symsweep
