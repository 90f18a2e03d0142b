// The model interface and the model registry.
//
// A Model is one point's differentiable objective over supervised samples (x, y): per-sample loss
// l_i(theta), mean over a batch. Instances are created per point (parameters fixed) and used by one
// thread; they own their scratch buffers, so that after reserve(S) the SGD step path allocates
// nothing.
//
// What every model provides (the pieces later capabilities build on):
//   - loss and gradient on a batch (the SGD step),
//   - Hessian-vector products and the dense Hessian (sharpness, stability),
//   - its conserved quantity under gradient flow, as a spectrum (Noether diagnostics),
//   - parameter initialisation from its own random stream,
//   - its symmetry (README, The science §2): the generators A_k of its exponential symmetries
//     (l_i(e^{lambda A_k} theta) = l_i(theta)), as products A_k v, so that C_k = theta^T A_k theta
//     and the Noether flow Tr[A_k Sigma] come from one code path for every model; its parameter
//     blocks ("layers"), for per-layer diagnostics; per-sample gradients (for Sigma),
//   - optionally, its closed-form equilibrium: written by the model into its own fields beside
//     the measured values (record_final), from the moments of the full objective it is given
//     (prepare_diagnostics) and iterates of the run's final window (accumulate_window),
//   - optionally, result fields of its own: declared per sweep (ModelInfo::declare_fields), found
//     by each point's model (bind_fields), filled on the trace schedule (record_traces) and at the
//     end of a run that did not diverge (record_final).
// Models are listed in model_registry() (name -> parameter schema + factory): the built-in ones,
// then those added with register_model (a test, or a program linking the library). The spec
// validator, `symsweep --help` and the docs all read that list.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "symsweep/schema.hpp"
#include "symsweep/spec.hpp"
#include "symsweep/types.hpp"

namespace symsweep {

class Grid;
class NormalSource;

/// A batch of samples: row s of x and y is sample s (S x dx and S x dy).
struct Batch {
  Eigen::Ref<const RowMatrix> x;
  Eigen::Ref<const RowMatrix> y;
  Index size() const { return x.rows(); }
};

class Model {
 public:
  virtual ~Model() = default;

  /// Number of parameters d (length of theta).
  virtual Index dim() const = 0;
  /// Input and output dimensions of a sample.
  virtual Index input_dim() const = 0;
  virtual Index output_dim() const = 0;

  /// Sizes the scratch buffers for batches of up to `max_batch` samples. After this call,
  /// loss_grad on such batches allocates nothing.
  virtual void reserve(Index max_batch) = 0;

  /// Mean loss over the batch, and its gradient into `grad` (length dim()).
  virtual double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) = 0;
  /// Mean loss over the batch.
  virtual double loss(const Vector& theta, const Batch& batch) = 0;
  /// Hessian of the mean batch loss times v.
  virtual void hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                              Vector& out) = 0;
  /// Dense Hessian of the mean batch loss (d x d). Default: one hessian_vector per column.
  virtual void hessian(const Vector& theta, const Batch& batch, Matrix& h);
  /// An operator v -> H v at one theta and batch, for many products (Lanczos): the same numbers
  /// as hessian_vector(theta, batch, v, out), bit for bit. A model may compute once, when the
  /// operator is made, what does not depend on v (e.g. the forward pass and the data moments);
  /// the operator owns that, so other calls on the model in between change nothing. theta and
  /// batch are read when the operator is made and, by reference, at each product: they must
  /// outlive it unchanged. Default: hessian_vector at each product.
  virtual std::function<void(const Vector&, Vector&)> hessian_operator(const Vector& theta,
                                                                       const Batch& batch);

  /// True when the mean loss over any sample set depends on the samples only through their joint
  /// second moments (squared loss of a model linear in x). Such models can be evaluated on the
  /// population exactly through a moment-matched reference set (see data.hpp).
  virtual bool quadratic_in_data() const { return false; }

  /// Length of the conserved-quantity spectrum (0 when the model has no continuous symmetry).
  virtual Index conserved_size() const { return 0; }
  /// The conserved quantity of gradient flow at theta, as a spectrum in descending order
  /// (for the two-layer linear net, the eigenvalues of D = U^T U - W W^T).
  virtual void conserved(const Vector& theta, Vector& out) const;

  /// Draws initial parameters.
  virtual void initialize(NormalSource& normal, Vector& theta) const = 0;

  // ---- Symmetry (README, The science §2). Defaults: no generator, no layers.
  /// Number of symmetry generators A_k: symmetric d x d matrices with l_i(e^{lambda A_k} theta)
  /// = l_i(theta) for every sample, lambda and theta (when the model's symmetry-breaking keys are
  /// at their defaults). Then grad l_i^T A_k theta = 0, C_k = theta^T A_k theta is conserved by
  /// gradient flow, and one SGD step (gamma = 0) moves it by exactly eta^2 g^T A_k g.
  virtual Index generator_count() const { return 0; }
  /// out = A_k v (out has length dim()). Allocation-free when out is sized.
  virtual void apply_generator(Index k, const Vector& v, Vector& out) const;
  /// v^T A_k v (the Noether flow's summand, Tr[A_k v v^T]). Default: apply_generator into
  /// `scratch` (length dim()) and a dot product over all of d; models whose A_k touch few
  /// coordinates override it (the same value up to rounding). Allocation-free.
  virtual double generator_quadratic(Index k, const Vector& v, Vector& scratch) const;
  /// Number of parameter blocks ("layers") for per-layer diagnostics (0: none declared).
  virtual Index layer_count() const { return 0; }
  /// Layer l's coordinates of theta: [first, first + size).
  virtual void layer(Index l, Index& first, Index& size) const;
  /// Per-sample gradients: row s of `out` (S x dim(), sized by the caller) is grad l_s(theta) of
  /// batch row s. The default calls loss_grad on one-row batches through `scratch` (length dim());
  /// allocation-free once out and scratch are sized.
  virtual void sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                                Vector& scratch);
  /// Trace of the Hessian of the mean batch loss. Default: sum of e_i^T H e_i over hessian_vector
  /// products (d of them, through scratch sized on first use; then allocation-free when
  /// hessian_vector is); models override it in closed form.
  virtual double hessian_trace(const Vector& theta, const Batch& batch);

  // ---- The model's own diagnostics of the final window (e.g. a time-averaged equilibrium).
  /// Called once before the run with the full objective (the dataset, or the population's
  /// moment-matched reference set online): the model may keep what its diagnostics need (e.g.
  /// the data moments). May allocate.
  virtual void prepare_diagnostics(const Batch& /*full*/) {}
  /// Called with theta after each update of the run's final window (record.final_window steps
  /// before optimizer.steps). Runs inside the SGD loop: must not allocate.
  virtual void accumulate_window(const Vector& /*theta*/) {}

  /// The directional third and fourth derivatives of the mean batch loss at theta along v
  /// (|v| = 1): t_vv[i] = sum_jk T_ijk v_j v_k and q_vvvv = Q[v, v, v, v] (the nonlinear stability
  /// criterion, stability.hpp). The default takes them from Hessian-vector products along v by
  /// central differences, with step h = 1e-3 (1 + |theta|_inf):
  ///     T[., v, v] ~ (H(theta + h v) v - H(theta - h v) v) / 2h
  ///     Q[v, v, v, v] ~ v . (H(theta + h v) v - 2 H(theta) v + H(theta - h v) v) / h^2
  /// (errors O(h^2)); models with exact ones override it and exact_derivatives(). Returns false
  /// when they are not finite.
  virtual bool directional_derivatives(const Vector& theta, const Batch& batch, const Vector& v,
                                       Vector& t_vv, double& q_vvvv);
  /// True when directional_derivatives is exact (then Newton's method may look for x*).
  virtual bool exact_derivatives() const { return false; }
  /// A model whose samples are its own (not drawn from the teacher) fills x and y with them, one
  /// row per sample, and returns true; the default uses the teacher's data.
  virtual bool own_data(RowMatrix& /*x*/, RowMatrix& /*y*/) const { return false; }

  // ---- The model's own result fields (see ModelInfo::declare_fields). Defaults: none.
  /// Finds the ids of the fields its ModelInfo declared (once per point, before the run).
  virtual void bind_fields(const Schema& /*schema*/) {}
  /// Fills trace record `slot` (a position along the "step" dimension) at theta. Runs inside
  /// the SGD loop: must not allocate.
  virtual void record_traces(const Vector& /*theta*/, Record& /*out*/, std::size_t /*slot*/) {}
  /// Fills the final fields of a run that did not diverge, at its final theta; `full` is the
  /// full objective (the dataset, or the population's reference set online).
  virtual void record_final(const Vector& /*theta*/, const Batch& /*full*/, Record& /*out*/) {}

  /// The d x d matrix whose j-th column is product(e_j), symmetrised: a Hessian from
  /// Hessian-vector products (models, and the dense path of stability.hpp's top_eigenvalue).
  static void hessian_from_products(Index d,
                                    const std::function<void(const Vector&, Vector&)>& product,
                                    Matrix& h);

 private:
  Vector trace_e_, trace_col_;  // hessian_trace's scratch
};

/// The memory of a model built from given parameters, without building it (ModelInfo::footprint).
struct ModelFootprint {
  Index dim = 0;         ///< d, the length of theta
  Index input_dim = 0;   ///< dx of a sample
  Index output_dim = 0;  ///< dy of a sample
  /// An upper bound of the bytes the model object itself holds at any moment of a point: its
  /// buffers, its scratch after reserve(max_batch), and the temporaries of its own methods (its
  /// closed-form diagnostics included). What the run holds around it (data, theta, optimizer,
  /// Hessian or Lanczos basis, window) is counted by point_memory_bound (simulate.hpp).
  double bytes = 0;
};

/// A registered model: its name, its parameter schema and its factory.
struct ModelInfo {
  std::string name;
  std::string summary;           ///< one line for --help
  std::vector<ParamDef> params;  ///< keys "model.<param>" (model.name is common)
  std::vector<CrossRule> rules;  ///< model-specific cross-parameter rules
  /// Input/output dimensions and conserved_size() of the model these parameters would build,
  /// without building it (the file layout needs them for every point).
  std::function<Index(const ParamSet&)> conserved_size;
  std::function<std::unique_ptr<Model>(const ParamSet&)> create;
  /// Optional: declares the model's own fields (and any trailing dimensions they need, sized for
  /// the largest point of the grid) into the sweep's schema. The "step" dimension (the trace
  /// records) is declared before it is called.
  std::function<void(const Grid&, Schema&)> declare_fields;
  /// Optional: generator_count() and layer_count() of the model these parameters would build
  /// (the core's Noether-flow and per-layer fields are sized from them); absent: 0.
  std::function<Index(const ParamSet&)> generator_count;
  std::function<Index(const ParamSet&)> layer_count;
  /// Optional: the footprint of the model these parameters would build, its scratch sized for
  /// batches of up to `max_batch` samples (the run's memory bound and --dry-run read it; absent:
  /// the bound counts d and the sample sizes as unknown and says so).
  std::function<ModelFootprint(const ParamSet&, Index max_batch)> footprint;
};

/// Every model: the built-in ones in --help order, then the registered ones.
const std::vector<ModelInfo>& model_registry();
/// The model called `name`, or nullptr.
const ModelInfo* find_model(const std::string& name);
/// Adds a model to the registry (e.g. a test's own model). Call before parsing any spec and
/// before threads start; the registry is not locked. Throws Error when the name is taken or the
/// entry lacks a name, a factory or conserved_size.
void register_model(ModelInfo info);

}  // namespace symsweep
