#pragma once
/// Eigen's symmetric eigensolver, LDLT and JacobiSVD of symsweep's Matrix, compiled once
/// (src/eigen_solvers.cpp) instead of in every file that uses them: each costs seconds of
/// compile time per file at -O2, more under the sanitizers. Include this header instead of
/// <Eigen/Eigenvalues>, <Eigen/Cholesky> or <Eigen/SVD>.
///
/// The explicit instantiation declarations below cover the classes and the members that take a
/// Matrix (the constructors and compute() are member templates of the argument's type); calls
/// with another argument type (a block, an expression) still instantiate their own copy, which is
/// correct, only slower to build. The code is the same, so are the results, bit for bit: no
/// floating-point contraction or reassociation depends on where a function is compiled
/// (-ffp-contract=off, no -ffast-math).

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/SVD>

// SYMSWEEP_EIGEN_SOLVERS(extern) declares, SYMSWEEP_EIGEN_SOLVERS() defines (in one file).
// Eigen::MatrixXd is symsweep::Matrix (include/symsweep/types.hpp).
#define SYMSWEEP_EIGEN_SOLVERS(EXTERN)                                                          \
  EXTERN template class Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>;                         \
  EXTERN template Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>::SelfAdjointEigenSolver(       \
      const Eigen::EigenBase<Eigen::MatrixXd>&, int);                                           \
  EXTERN template Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>&                               \
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>::compute(                                      \
      const Eigen::EigenBase<Eigen::MatrixXd>&, int);                                           \
  EXTERN template class Eigen::LDLT<Eigen::MatrixXd>;                                           \
  EXTERN template Eigen::LDLT<Eigen::MatrixXd>::LDLT(const Eigen::EigenBase<Eigen::MatrixXd>&); \
  EXTERN template Eigen::LDLT<Eigen::MatrixXd>& Eigen::LDLT<Eigen::MatrixXd>::compute(          \
      const Eigen::EigenBase<Eigen::MatrixXd>&);                                                \
  EXTERN template class Eigen::JacobiSVD<Eigen::MatrixXd>;

SYMSWEEP_EIGEN_SOLVERS(extern)
