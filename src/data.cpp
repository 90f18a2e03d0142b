#include "symsweep/data.hpp"

#include <algorithm>
#include <cmath>

#include "detmath.hpp"
#include "symsweep/cancel.hpp"
#include "symsweep/eigen_solvers.hpp"
#include "symsweep/error.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/spec.hpp"
#include "text.hpp"

namespace symsweep {

Matrix matrix_value(const Value& v) {
  Matrix m(static_cast<Index>(v.rows), static_cast<Index>(v.cols));
  for (Index r = 0; r < m.rows(); ++r) {
    for (Index c = 0; c < m.cols(); ++c) {
      m(r, c) = v.numbers[static_cast<std::size_t>(r * m.cols() + c)];
    }
  }
  return m;
}

DataSpec DataSpec::from(const ParamSet& p, Index dx, Index dy) {
  DataSpec s;
  s.online = p.text("data.mode") == "online";
  s.n = s.online ? 0 : p.integer("data.n");
  s.dx = dx;
  s.dy = dy;
  s.x_var = p.number("data.x_var");
  s.x_decay = p.number("data.x_decay");
  s.teacher_scale = p.number("data.teacher_scale");
  s.teacher_decay = p.number("data.teacher_decay");
  s.noise_var = p.number("data.noise_var");
  s.noise_decay = p.number("data.noise_decay");
  s.x_cov = matrix_value(p.value("data.x_cov"));
  s.noise_cov = matrix_value(p.value("data.noise_cov"));
  s.teacher = matrix_value(p.value("data.teacher"));
  return s;
}

namespace {
/// scale * (1, ratio, ratio^2, ...), n terms.
Vector geometric(Index n, double scale, double ratio) {
  Vector v(n);
  for (Index i = 0; i < n; ++i) v[i] = scale * det::powi(ratio, static_cast<long>(i));
  return v;
}

/// The full covariance of a given value (one row: its diagonal).
Matrix full_covariance(const Matrix& given) {
  if (given.rows() == 1) return given.row(0).transpose().asDiagonal();
  return given;
}

std::string fmt(double v) {
  return text::format_double(v);
}
}  // namespace

std::optional<std::string> covariance_problem(const Matrix& m, Index d) {
  if (m.size() == 0) return std::nullopt;
  const bool list = m.rows() == 1;
  const Index size = list ? m.cols() : m.rows();
  if (!list && m.rows() != m.cols()) {
    return "a " + std::to_string(m.rows()) + " x " + std::to_string(m.cols()) +
           " matrix; a covariance is one row of eigenvalues or a square matrix";
  }
  if (d >= 0 && size != d) {
    return std::string(list ? "has " + std::to_string(size) + " eigenvalue(s)"
                            : "is " + std::to_string(size) + " x " + std::to_string(size)) +
           " but the model's dimension is " + std::to_string(d) + "; give " + std::to_string(d) +
           " eigenvalue(s) or a " + std::to_string(d) + " x " + std::to_string(d) + " matrix";
  }
  if (list) {
    for (Index j = 0; j < size; ++j) {
      if (!(m(0, j) >= 0)) {
        return "eigenvalue " + std::to_string(j + 1) + " is " + fmt(m(0, j)) +
               "; a covariance's eigenvalues must be >= 0";
      }
    }
    return std::nullopt;
  }
  for (Index r = 0; r < size; ++r) {
    for (Index c = r + 1; c < size; ++c) {
      if (m(r, c) != m(c, r)) {
        return "element (" + std::to_string(r + 1) + ", " + std::to_string(c + 1) +
               ") = " + fmt(m(r, c)) + " but (" + std::to_string(c + 1) + ", " +
               std::to_string(r + 1) + ") = " + fmt(m(c, r)) + "; a covariance must be symmetric";
      }
    }
  }
  // Positive semidefinite: the pivots of LDL^T with full diagonal pivoting are >= 0, up to
  // rounding relative to the largest diagonal element.
  const Eigen::LDLT<Matrix> ldlt(m);
  const double scale = m.diagonal().cwiseAbs().maxCoeff();
  const double lowest = ldlt.vectorD().minCoeff();
  if (ldlt.info() != Eigen::Success || lowest < -1e-12 * std::max(scale, 1e-300) ||
      m.diagonal().minCoeff() < 0) {
    return "not positive semidefinite (a pivot of its LDL^T factorisation is " + fmt(lowest) +
           "); a covariance must be symmetric positive semidefinite";
  }
  return std::nullopt;
}

void data_moments(const Batch& full, Matrix& sigma_x, Matrix& v, Matrix& sigma_eps) {
  const double inv = 1.0 / static_cast<double>(full.size());
  sigma_x = full.x.transpose() * full.x * inv;
  const Matrix syx = full.y.transpose() * full.x * inv;
  const Matrix syy = full.y.transpose() * full.y * inv;
  v = sigma_x.ldlt().solve(syx.transpose()).transpose();  // V = Syx Sx^{-1}
  sigma_eps = syy - v * sigma_x * v.transpose();
  sigma_eps = (0.5 * (sigma_eps + sigma_eps.transpose())).eval();
}

Teacher::Gaussian::Gaussian(const Matrix& cov_in) : cov(cov_in) {
  const Index d = cov.rows();
  for (Index c = 0; c < d; ++c) {
    for (Index r = 0; r < d; ++r) diagonal = diagonal && (r == c || cov(r, c) == 0.0);
  }
  if (diagonal) {
    std = cov.diagonal().cwiseSqrt();
    factor = std.asDiagonal();
    return;
  }
  // cov = P^T L D L^T P, so F = P^T L D^{1/2}; pivots below zero by rounding count as zero.
  const Eigen::LDLT<Matrix> ldlt(cov);
  SYMSWEEP_VERIFY(ldlt.info() == Eigen::Success, "covariance factorisation failed");
  const Vector root_d = ldlt.vectorD().cwiseMax(0.0).cwiseSqrt();
  const Matrix l = ldlt.matrixL();
  factor = Matrix::Zero(d, d);
  factor = l * root_d.asDiagonal();
  factor = ldlt.transpositionsP().transpose() * factor;
}

void Teacher::Gaussian::draw(NormalSource& normal, Eigen::Ref<RowMatrix> out, Index row,
                             Vector& z) const {
  const Index d = cov.rows();
  if (diagonal) {
    for (Index j = 0; j < d; ++j) out(row, j) = std[j] * normal.normal();
    return;
  }
  for (Index j = 0; j < d; ++j) z[j] = normal.normal();
  for (Index j = 0; j < d; ++j) {
    double sum = 0;
    for (Index k = 0; k < d; ++k) sum += factor(j, k) * z[k];
    out(row, j) = sum;
  }
}

namespace {
/// A given covariance, checked (ConfigError naming the key), or the geometric diagonal.
Matrix covariance(const char* key, const Matrix& given, Index d, double scale, double ratio) {
  if (given.size() == 0) return geometric(d, scale, ratio).asDiagonal();
  if (auto problem = covariance_problem(given, d)) {
    throw ConfigError(std::string(key) + ": " + *problem);
  }
  return full_covariance(given);
}
Matrix teacher_matrix(const DataSpec& s) {
  if (s.teacher.size() > 0) {
    if (s.teacher.rows() != s.dy || s.teacher.cols() != s.dx) {
      throw ConfigError("data.teacher: is " + std::to_string(s.teacher.rows()) + " x " +
                        std::to_string(s.teacher.cols()) + " but must be dy x dx = " +
                        std::to_string(s.dy) + " x " + std::to_string(s.dx));
    }
    return s.teacher;
  }
  Matrix v = Matrix::Zero(s.dy, s.dx);
  const Vector diag = geometric(std::min(s.dx, s.dy), s.teacher_scale, s.teacher_decay);
  for (Index i = 0; i < diag.size(); ++i) v(i, i) = diag[i];
  return v;
}
}  // namespace

Teacher::Teacher(const DataSpec& spec)
    : x_(covariance("data.x_cov", spec.x_cov, spec.dx, spec.x_var, spec.x_decay)),
      noise_(
          covariance("data.noise_cov", spec.noise_cov, spec.dy, spec.noise_var, spec.noise_decay)),
      v_(teacher_matrix(spec)),
      z_(std::max(spec.dx, spec.dy)) {
  // y += x V^T element by element when every row of V holds exactly one nonzero element, on the
  // diagonal (dy <= dx): each element's sum then has one nonzero term, whatever order the
  // product sums in.
  v_diagonal_ = spec.dy <= spec.dx;
  for (Index c = 0; c < v_.cols(); ++c) {
    for (Index r = 0; r < v_.rows(); ++r) {
      v_diagonal_ = v_diagonal_ && (r == c ? v_(r, c) != 0.0 : v_(r, c) == 0.0);
    }
  }
  // About 4096 normals a block (32 kB), at least one row.
  const Index width = spec.dx + spec.dy;
  block_rows_ = std::max<Index>(1, 4096 / width);
  if (x_.diagonal && noise_.diagonal) block_.resize(block_rows_ * width);
}

void Teacher::sample(NormalSource& normal, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const {
  const Index dx = input_dim(), dy = output_dim();
  SYMSWEEP_VERIFY(x.cols() == dx && y.cols() == dy && x.rows() == y.rows(),
                  "sample buffers have the wrong shape");
  for (Index s = 0; s < x.rows(); ++s) {
    cancellation_point();
    x_.draw(normal, x, s, z_);
    noise_.draw(normal, y, s, z_);
  }
  y.noalias() += x * v_.transpose();
}

void Teacher::sample(Stream& stream, Eigen::Ref<RowMatrix> x, Eigen::Ref<RowMatrix> y) const {
  if (!x_.diagonal || !noise_.diagonal) {
    sample(static_cast<NormalSource&>(stream), x, y);
    return;
  }
  const Index dx = input_dim(), dy = output_dim(), width = dx + dy;
  SYMSWEEP_VERIFY(x.cols() == dx && y.cols() == dy && x.rows() == y.rows(),
                  "sample buffers have the wrong shape");
  // Row by row, dx normals for x then dy for the noise: the stream's order, as above, with the
  // same products std_j * z.
  const double* sx = x_.std.data();
  const double* se = noise_.std.data();
  for (Index s0 = 0; s0 < x.rows(); s0 += block_rows_) {
    cancellation_point();
    const Index rows = std::min(block_rows_, x.rows() - s0);
    double* z = block_.data();
    stream.normals(z, static_cast<std::size_t>(rows * width));
    for (Index s = s0; s < s0 + rows; ++s, z += width) {
      double* xr = &x(s, 0);
      double* yr = &y(s, 0);
      for (Index j = 0; j < dx; ++j) xr[j] = sx[j] * z[j];
      for (Index j = 0; j < dy; ++j) yr[j] = se[j] * z[dx + j];
    }
  }
  if (!v_diagonal_) {
    y.noalias() += x * v_.transpose();
    return;
  }
  // y_si += x_si V_ii: the product's sum for element (s, i) has this one nonzero term (the
  // others are exact zeros), so it is the same number.
  for (Index s = 0; s < x.rows(); ++s) {
    const double* xr = &x(s, 0);
    double* yr = &y(s, 0);
    for (Index i = 0; i < dy; ++i) yr[i] += xr[i] * v_(i, i);
  }
}

SampleSet Teacher::sample(NormalSource& normal, Index n) const {
  SampleSet set{RowMatrix(n, input_dim()), RowMatrix(n, output_dim())};
  sample(normal, set.x, set.y);
  return set;
}

SampleSet Teacher::reference_set() const {
  const Index dx = input_dim(), dy = output_dim(), m = dx + dy;
  const double root_m = std::sqrt(static_cast<double>(m));
  SampleSet set{RowMatrix::Zero(m, dx), RowMatrix::Zero(m, dy)};
  if (x_.diagonal) {
    set.x.topRows(dx) = (root_m * x_.std).asDiagonal();
  } else {
    set.x.topRows(dx) = root_m * x_.factor.transpose();
  }
  set.y.topRows(dx) = set.x.topRows(dx) * v_.transpose();
  if (noise_.diagonal) {
    set.y.bottomRows(dy) = (root_m * noise_.std).asDiagonal();
  } else {
    set.y.bottomRows(dy) = root_m * noise_.factor.transpose();
  }
  return set;
}

}  // namespace symsweep
