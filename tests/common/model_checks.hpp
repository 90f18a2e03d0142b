// Checks every model's derivatives must pass (used by the model tests).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "symsweep/model.hpp"

namespace symsweep::testing {

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

}  // namespace symsweep::testing
