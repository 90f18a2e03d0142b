#include "symsweep/model.hpp"

#include <cfenv>
#include <cmath>
#include <sstream>

#include "symsweep/cancel.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/models/deeplinear.hpp"
#include "symsweep/models/diaglinear.hpp"
#include "symsweep/models/linear2.hpp"
#include "symsweep/models/mlp2.hpp"
#include "symsweep/models/poly.hpp"
#include "symsweep/models/scaleinv.hpp"
#include "symsweep/rng.hpp"

namespace symsweep {

Index ModelShape::generator_count() const {
  Index n = 0;
  for (Index m : symmetry_blocks) n += m * (m + 1) / 2;
  return n;
}

Index ModelShape::first_generator(Index b) const {
  Index n = 0;
  for (Index i = 0; i < b; ++i) n += symmetry_blocks[i] * (symmetry_blocks[i] + 1) / 2;
  return n;
}

Index ModelShape::largest_block() const {
  Index m = 0;
  for (Index s : symmetry_blocks) m = std::max(m, s);
  return m;
}

std::string ModelShape::describe() const {
  const auto list = [](const std::vector<Index>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  return "conserved " + std::to_string(conserved) + ", layers " + list(layers) +
         ", symmetry blocks " + list(symmetry_blocks);
}

void Model::hessian(const Vector& theta, const Batch& batch, Matrix& h) {
  hessian_from_products(
      dim(), [&](const Vector& e, Vector& col) { hessian_vector(theta, batch, e, col); }, h);
}

void Model::hessian_from_products(Index d,
                                  const std::function<void(const Vector&, Vector&)>& product,
                                  Matrix& h) {
  h.resize(d, d);
  Vector e = Vector::Zero(d);
  Vector col(d);
  for (Index j = 0; j < d; ++j) {
    cancellation_point();
    e[j] = 1.0;
    product(e, col);
    h.col(j) = col;
    e[j] = 0.0;
  }
  // Exactly symmetric (products of a symmetric operator are symmetric up to rounding).
  h = (0.5 * (h + h.transpose())).eval();
}

std::function<void(const Vector&, Vector&)> Model::hessian_operator(const Vector& theta,
                                                                    const Batch& batch) {
  return [this, &theta, &batch](const Vector& v, Vector& out) {
    hessian_vector(theta, batch, v, out);
  };
}

bool Model::directional_derivatives(const Vector& theta, const Batch& batch, const Vector& v,
                                    Vector& t_vv, double& q_vvvv) {
  const double h = 1e-3 * (1.0 + theta.cwiseAbs().maxCoeff());
  Vector plus, minus, centre;
  hessian_vector(theta + h * v, batch, v, plus);
  hessian_vector(theta - h * v, batch, v, minus);
  hessian_vector(theta, batch, v, centre);
  t_vv = (plus - minus) / (2 * h);
  q_vvvv = v.dot(plus - 2 * centre + minus) / (h * h);
  return t_vv.allFinite() && std::isfinite(q_vvvv);
}

void Model::conserved(const Vector& /*theta*/, Vector& out) const {
  out.resize(0);
}

void Model::apply_generator(Index k, const Vector& /*v*/, Vector& /*out*/) const {
  SYMSWEEP_VERIFY(false, "generator " + std::to_string(k) + " of a model without symmetry");
}

double Model::generator_quadratic(Index k, const Vector& v, Vector& scratch) const {
  apply_generator(k, v, scratch);
  return v.dot(scratch);
}

void Model::layer(Index l, Index& first, Index& size) const {
  SYMSWEEP_VERIFY(l >= 0 && l < layer_count(), "layer " + std::to_string(l) + " of a model with " +
                                                   std::to_string(layer_count()) + " layer(s)");
  first = 0;
  for (Index i = 0; i < l; ++i) first += shape_.layers[static_cast<std::size_t>(i)];
  size = shape_.layers[static_cast<std::size_t>(l)];
}

void Model::accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const {
  const Index m = shape_.symmetry_blocks[static_cast<std::size_t>(b)];
  Index k = shape_.first_generator(b);
  for (Index i = 0; i < m; ++i) f(i, i) += generator_quadratic(k++, v, scratch);
  for (Index i = 0; i < m; ++i) {
    for (Index j = i + 1; j < m; ++j) {
      const double half = 0.5 * generator_quadratic(k++, v, scratch);
      f(i, j) += half;
      f(j, i) += half;
    }
  }
}

void Model::sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                             Vector& scratch) {
  SYMSWEEP_VERIFY(out.rows() >= batch.size() && out.cols() == dim() && scratch.size() == dim(),
                  "sample_gradients: buffers have the wrong shape");
  for (Index s = 0; s < batch.size(); ++s) {
    loss_grad(theta, Batch{batch.x.middleRows(s, 1), batch.y.middleRows(s, 1)}, scratch);
    out.row(s) = scratch.transpose();
  }
}

double Model::hessian_trace(const Vector& theta, const Batch& batch) {
  if (trace_e_.size() != dim()) {
    trace_e_ = Vector::Zero(dim());
    trace_col_.resize(dim());
  }
  double t = 0;
  for (Index i = 0; i < dim(); ++i) {
    cancellation_point();
    trace_e_[i] = 1.0;
    hessian_vector(theta, batch, trace_e_, trace_col_);
    t += trace_col_[i];
    trace_e_[i] = 0.0;
  }
  return t;
}

namespace {
std::vector<ModelInfo>& registry() {
  // Built-in models are listed explicitly: self-registration through static initialisers is
  // dropped by the linker when the library is static.
  static std::vector<ModelInfo> models = {linear2_info(),  poly_info(),       diaglinear_info(),
                                          scaleinv_info(), deeplinear_info(), mlp2_info()};
  return models;
}
}  // namespace

const std::vector<ModelInfo>& model_registry() {
  return registry();
}

void check_model_shape(const std::string& name, Model& model, const ModelShape& declared,
                       const Vector& theta) {
  const auto refuse = [&](const std::string& what) {
    throw Error("model '" + name + "': " + what);
  };
  const ModelShape& built = model.shape();
  if (built != declared) {
    refuse("its registry entry declares " + declared.describe() + ", its model reports " +
           built.describe());
  }
  Index covered = 0;
  for (Index s : built.layers) {
    if (s < 1) refuse("a layer of size " + std::to_string(s) + " (each needs at least 1)");
    covered += s;
  }
  if (!built.layers.empty() && covered != model.dim()) {
    refuse("its layers cover " + std::to_string(covered) + " parameter(s), its dim() is " +
           std::to_string(model.dim()));
  }
  for (Index m : built.symmetry_blocks) {
    if (m < 1) refuse("a symmetry block of size " + std::to_string(m) + " (each needs >= 1)");
  }
  if (theta.size() != model.dim()) {
    refuse("theta has " + std::to_string(theta.size()) + " entries, dim() is " +
           std::to_string(model.dim()));
  }
  Vector spectrum;
  model.conserved(theta, spectrum);
  if (spectrum.size() != built.conserved) {
    refuse("conserved() reports " + std::to_string(spectrum.size()) + " value(s), its shape " +
           "declares " + std::to_string(built.conserved));
  }
  Vector out(model.dim());
  for (Index k = 0; k < built.generator_count(); ++k) {
    try {
      model.apply_generator(k, theta, out);
    } catch (const std::exception& e) {
      refuse("generator " + std::to_string(k) + " of the " +
             std::to_string(built.generator_count()) + " its shape declares does not apply (" +
             e.what() + ")");
    }
  }
}

void register_model(ModelInfo info) {
  SYMSWEEP_VERIFY(!info.name.empty() && info.create && info.shape,
                  "a model needs a name, a factory and a shape");
  SYMSWEEP_VERIFY(find_model(info.name) == nullptr,
                  "model '" + info.name + "' is already registered");
  const std::string name = info.name;
  registry().push_back(std::move(info));
  // The model at its default parameters against its declared shape; the floating-point state
  // is the caller's again afterwards, whatever the model's code did to it (as after a point).
  std::fenv_t caller;
  std::fegetenv(&caller);
  struct Restore {
    const std::fenv_t& env;
    ~Restore() { std::fesetenv(&env); }
  } restore{caller};
  try {
    const SweepSpec spec = parse_spec("[model]\nname = " + name + "\n");
    const Grid grid(spec);
    const ParamSet params = grid.params(0);
    const ModelInfo& entry = registry().back();
    std::unique_ptr<Model> model = entry.create(params);
    Vector theta;
    Stream stream(1, 0, Purpose::init);
    model->initialize(stream, theta);
    check_model_shape(name, *model, entry.shape(params), theta);
  } catch (const ConfigError& e) {
    registry().pop_back();
    throw Error("model '" + name + "': its shape is checked at its default parameters, which " +
                "are not a valid point: " + e.what());
  } catch (...) {
    registry().pop_back();
    throw;
  }
}

const ModelInfo* find_model(const std::string& name) {
  for (const auto& info : model_registry()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace symsweep
