// The one copy of Eigen's decompositions of symsweep's Matrix (include/symsweep/eigen_solvers.hpp).
#include "symsweep/eigen_solvers.hpp"

#include <type_traits>

#include "symsweep/types.hpp"

static_assert(std::is_same_v<symsweep::Matrix, Eigen::MatrixXd>,
              "eigen_solvers.hpp instantiates the decompositions of Eigen::MatrixXd");

SYMSWEEP_EIGEN_SOLVERS()
