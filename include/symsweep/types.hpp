// Eigen type aliases used throughout symsweep.
#pragma once

#include <Eigen/Core>

namespace symsweep {

using Index = Eigen::Index;
using Vector = Eigen::VectorXd;
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
/// Samples are rows: a batch of S inputs of dimension dx is an S x dx row-major block.
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

using VectorRef = Eigen::Ref<Vector>;
using ConstVectorRef = Eigen::Ref<const Vector>;
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;
using ConstRowMatrixRef = Eigen::Ref<const RowMatrix>;

}  // namespace symsweep
