// Checks every model's derivatives must pass, and the inputs the model tests draw them at.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "symsweep/data.hpp"
#include "symsweep/model.hpp"
#include "symsweep/rng.hpp"

namespace symsweep::testing {

/// d independent normals times `scale` from s.
inline Vector random_vector(Stream& s, Index d, double scale) {
  Vector v(d);
  for (Index i = 0; i < d; ++i) v[i] = scale * s.normal();
  return v;
}

/// n samples of the geometric teacher (x_decay 0.7, noise_var 0.4) from the data stream of
/// `seed`.
inline SampleSet teacher_samples(Index dx, Index dy, std::uint64_t seed, Index n) {
  DataSpec ds;
  ds.dx = dx;
  ds.dy = dy;
  ds.x_decay = 0.7;
  ds.noise_var = 0.4;
  Stream s(seed, 0, Purpose::data);
  return Teacher(ds).sample(s, n);
}

/// Central differences of the gradient along v: (g(theta + eps v) - g(theta - eps v)) / 2 eps.
inline Vector gradient_difference(Model& model, const Vector& theta, const Batch& batch,
                                  const Vector& v, double eps) {
  Vector gp(model.dim()), gm(model.dim());
  model.loss_grad(theta + eps * v, batch, gp);
  model.loss_grad(theta - eps * v, batch, gm);
  return (gp - gm) / (2 * eps);
}

/// hessian_vector along v equals central differences of the gradient along v (step eps, to
/// 1e-7 relative); returns H v.
inline Vector expect_hessian_vector_matches_central_differences(Model& model, const Vector& theta,
                                                                const Batch& batch, const Vector& v,
                                                                double eps = 1e-5) {
  Vector hv(model.dim());
  model.hessian_vector(theta, batch, v, hv);
  const Vector fd = gradient_difference(model, theta, batch, v, eps);
  EXPECT_LT((hv - fd).norm(), 1e-7 * std::max(1.0, fd.norm()));
  return hv;
}

/// Every column of the dense Hessian h equals central differences of the gradient along its
/// coordinate (step 1e-5, to 1e-7 relative).
inline void expect_hessian_columns_match_central_differences(Model& model, const Vector& theta,
                                                             const Batch& batch, const Matrix& h) {
  ASSERT_EQ(h.rows(), model.dim());
  ASSERT_EQ(h.cols(), model.dim());
  Vector e = Vector::Zero(model.dim());
  for (Index j = 0; j < model.dim(); ++j) {
    e[j] = 1;
    const Vector fd = gradient_difference(model, theta, batch, e, 1e-5);
    e[j] = 0;
    EXPECT_LT((h.col(j) - fd).norm(), 1e-7 * std::max(1.0, fd.norm())) << "column " << j;
  }
}

/// loss_grad's loss equals loss(), and its gradient equals central differences of loss()
/// (step 1e-6, to 1e-7 relative).
inline void expect_gradient_matches_central_differences(Model& model, const Vector& theta,
                                                        const Batch& batch) {
  Vector grad(model.dim());
  const double loss = model.loss_grad(theta, batch, grad);
  EXPECT_DOUBLE_EQ(loss, model.loss(theta, batch));
  const double eps = 1e-6;
  for (Index i = 0; i < model.dim(); ++i) {
    Vector tp = theta, tm = theta;
    tp[i] += eps;
    tm[i] -= eps;
    const double fd = (model.loss(tp, batch) - model.loss(tm, batch)) / (2 * eps);
    EXPECT_NEAR(grad[i], fd, 1e-7 * std::max(1.0, std::fabs(fd))) << "parameter " << i;
  }
}

/// A model's fast paths against the generic ones of model.hpp, at theta on `batch` (the other
/// batch, `other`, is used between products to show that an operator keeps its own data):
///   - sample_gradients equals Model::sample_gradients (loss_grad on one-row batches) row by
///     row to 1e-12 relative;
///   - generator_quadratic(k, v) equals v . (A_k v) from apply_generator to 1e-12 |v|^2 for
///     every generator, on the per-sample gradients' deviations from their mean (what the Noether
///     flows sum) and on random vectors;
///   - hessian_operator's products equal hessian_vector's bit for bit, with other calls on the
///     model (another theta, another batch) between them.
inline void expect_fast_paths_match_generic(Model& model, const Vector& theta, const Batch& batch,
                                            const Batch& other, Stream& stream) {
  const Index d = model.dim(), n = batch.size();
  RowMatrix fast(n, d), generic(n, d);
  Vector scratch(d);
  model.sample_gradients(theta, batch, fast, scratch);
  model.Model::sample_gradients(theta, batch, generic, scratch);
  for (Index s = 0; s < n; ++s) {
    EXPECT_LE((fast.row(s) - generic.row(s)).norm(), 1e-12 * generic.row(s).norm())
        << "sample " << s;
  }
  const Vector mean = generic.colwise().mean().transpose();
  std::vector<Vector> vectors;
  for (Index s = 0; s < n; ++s) vectors.push_back(generic.row(s).transpose() - mean);
  for (int i = 0; i < 3; ++i) {
    Vector v(d);
    for (Index j = 0; j < d; ++j) v[j] = stream.normal();
    vectors.push_back(v);
  }
  Vector a_v(d);
  for (Index k = 0; k < model.generator_count(); ++k) {
    for (const Vector& v : vectors) {
      model.apply_generator(k, v, a_v);
      EXPECT_NEAR(model.generator_quadratic(k, v, scratch), v.dot(a_v), 1e-12 * v.squaredNorm())
          << "generator " << k;
    }
  }
  const auto op = model.hessian_operator(theta, batch);
  Vector moved = theta, grad(d), from_op(d), direct(d), elsewhere(d);
  for (const Vector& v : vectors) moved += 0.1 * v / (1.0 + v.norm());
  for (const Vector& v : vectors) {
    op(v, from_op);
    model.loss_grad(moved, other, grad);  // other calls in between change nothing
    model.hessian_vector(moved, other, v, elsewhere);
    model.hessian_vector(theta, batch, v, direct);
    ASSERT_EQ(from_op.size(), d);
    EXPECT_EQ((from_op - direct).cwiseAbs().maxCoeff(), 0.0);
    EXPECT_GT((elsewhere - direct).norm(), 0.0);  // the calls between were not idle
  }
}

}  // namespace symsweep::testing
