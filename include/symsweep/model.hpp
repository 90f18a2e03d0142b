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

/// A model's structure, declared once: the model's constructor hands it to Model, and the
/// registry entry's ModelInfo::shape computes it from the parameters without building the model
/// (both from one function of the model's own, e.g. Linear2::shape_for), so the file layout and
/// the model can never disagree. register_model refuses an entry whose model reports otherwise
/// (check_model_shape), and every point checks its model against the entry before it runs.
struct ModelShape {
  /// Length of the conserved-quantity spectrum (0: no continuous symmetry).
  Index conserved = 0;
  /// Sizes of the parameter blocks ("layers", for per-layer diagnostics), in their order in
  /// theta: layer l is [sum of the sizes before it, + layers[l]). Empty: none declared; else the
  /// sizes sum to dim().
  std::vector<Index> layers;
  /// The symmetry, as blocks of generators: block b acts through a symmetric m_b x m_b matrix M
  /// (two-layer linear net: U -> U e^{lM}, W -> e^{-lM} W at its hidden layer, m_b = h; a
  /// rescaling of one coordinate pair, or of the whole theta: m_b = 1). Its generators are A_M
  /// for the basis of symmetric m_b x m_b matrices, E_ii (i = 0..m_b-1) then E_ij + E_ji for
  /// i < j, row by row: m_b (m_b + 1) / 2 of them, block after block in generator order. The
  /// Noether flows of a block form the symmetric m_b x m_b flow matrix F_b with Tr[A_M Sigma] =
  /// Tr[M F_b] (F_ii = the flow of E_ii, F_ij = half that of E_ij + E_ji).
  std::vector<Index> symmetry_blocks;

  Index layer_count() const { return static_cast<Index>(layers.size()); }
  Index generator_count() const;
  /// The first generator of block b (generators of earlier blocks before it).
  Index first_generator(Index b) const;
  /// The largest block size (0 without symmetry).
  Index largest_block() const;
  bool operator==(const ModelShape& o) const {
    return conserved == o.conserved && layers == o.layers && symmetry_blocks == o.symmetry_blocks;
  }
  bool operator!=(const ModelShape& o) const { return !(*this == o); }
  /// "conserved 4, layers [16, 16], symmetry blocks [4]" (messages).
  std::string describe() const;
};

/// A batch of samples: row s of x and y is sample s (S x dx and S x dy).
struct Batch {
  Eigen::Ref<const RowMatrix> x;
  Eigen::Ref<const RowMatrix> y;
  Index size() const { return x.rows(); }
};

/// The core's measurements at the end of a run, given to Model::record_final (each empty, or NaN,
/// where record.diagnostics leaves it out).
struct EndMeasurements {
  /// Tr Sigma_l per layer (the core's /results/grad_noise): ModelShape::layers entries, or none.
  Vector layer_noise;
};

class Model {
 public:
  /// The model's structure (ModelShape), declared once by the model class.
  explicit Model(ModelShape shape) : shape_(std::move(shape)) {}
  virtual ~Model() = default;
  const ModelShape& shape() const { return shape_; }

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
  Index conserved_size() const { return shape_.conserved; }
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
  Index generator_count() const { return shape_.generator_count(); }
  /// out = A_k v (out has length dim()). Allocation-free when out is sized.
  virtual void apply_generator(Index k, const Vector& v, Vector& out) const;
  /// v^T A_k v (the Noether flow's summand, Tr[A_k v v^T]). Default: apply_generator into
  /// `scratch` (length dim()) and a dot product over all of d; models whose A_k touch few
  /// coordinates override it (the same value up to rounding). Allocation-free.
  virtual double generator_quadratic(Index k, const Vector& v, Vector& scratch) const;
  /// Number of parameter blocks ("layers") for per-layer diagnostics (0: none declared).
  Index layer_count() const { return shape_.layer_count(); }
  /// Layer l's coordinates of theta: [first, first + size) (from ModelShape::layers).
  void layer(Index l, Index& first, Index& size) const;
  /// Adds v's summand of symmetry block b's flow matrix to f (m_b x m_b): the symmetric F(v) with
  /// Tr[M F(v)] = v^T A_M v for every symmetric M (ModelShape::symmetry_blocks), so F_ii =
  /// v^T A_{E_ii} v and F_ij = v^T A_{E_ij + E_ji} v / 2. `scratch` has length dim(). Default:
  /// generator_quadratic, once per generator of the block; models with a closed form override it
  /// (the same values up to rounding). Allocation-free.
  virtual void accumulate_flow_matrix(Index b, const Vector& v, Matrix& f, Vector& scratch) const;
  /// Every block's flow matrix over a whole sample set at theta at once: flows[b] = mean_s
  /// F_b(g_s - mean g) over the per-sample gradients g_s of `set` (flows sized m_b x m_b by the
  /// caller). A model with a closed form over the set (e.g. from its forward pass, without the
  /// per-sample gradients) computes them and returns true; the default returns false, and the
  /// caller accumulates accumulate_flow_matrix over the per-sample deviations. Allocation-free
  /// once reserve()d for the set's size.
  virtual bool flow_matrices(const Vector& /*theta*/, const Batch& /*set*/,
                             std::vector<Matrix>& /*flows*/) {
    return false;
  }
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
  /// Called once with the initial parameters, after prepare_diagnostics and initialize, before
  /// the first update: the model may keep what its diagnostics need of the start (e.g. a gap at
  /// theta_0 that later ones are measured against). May allocate.
  virtual void start(const Vector& /*theta0*/) {}
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
  /// Whether every sample's loss is twice continuously differentiable within `radius` (in the
  /// max norm) of theta: false for a ReLU net where a pre-activation of `batch` is within reach of
  /// its kink. The stability checks at a minimum (stability.hpp) read Hessians and differences of
  /// them there; where this is false they are not made (stability_note not_smooth). Default: true.
  virtual bool smooth_near(const Vector& /*theta*/, const Batch& /*batch*/, double /*radius*/) {
    return true;
  }
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
  /// full objective (the dataset, or the population's reference set online); `measured` holds
  /// the core's own measurements at the end that a model may build on.
  virtual void record_final(const Vector& /*theta*/, const Batch& /*full*/,
                            const EndMeasurements& /*measured*/, Record& /*out*/) {}

  /// The d x d matrix whose j-th column is product(e_j), symmetrised: a Hessian from
  /// Hessian-vector products (models, and the dense path of stability.hpp's top_eigenvalue).
  static void hessian_from_products(Index d,
                                    const std::function<void(const Vector&, Vector&)>& product,
                                    Matrix& h);

 private:
  ModelShape shape_;
  Vector trace_e_, trace_col_;  // hessian_trace's scratch
};

/// Declares, inside a model class, the overrides that every model with a symmetry and result
/// fields of its own implements, with Model's contracts: the batch evaluation (reserve,
/// loss_grad, loss, hessian_vector), the symmetry (conserved, initialize, apply_generator) and
/// the fields (bind_fields, accumulate_window, record_final). The class declares its other
/// overrides beside it. A macro, not a base class: C++ needs each override declared in the class
/// that defines it, which no base can do for it; the text is what was written out before, so the
/// class, its layout and its calls are unchanged.
#define SYMSWEEP_MODEL_OVERRIDES()                                                           \
  void reserve(Index max_batch) override;                                                    \
  double loss_grad(const Vector& theta, const Batch& batch, Vector& grad) override;          \
  double loss(const Vector& theta, const Batch& batch) override;                             \
  void hessian_vector(const Vector& theta, const Batch& batch, const Vector& v, Vector& out) \
      override;                                                                              \
  void conserved(const Vector& theta, Vector& out) const override;                           \
  void initialize(NormalSource& normal, Vector& theta) const override;                       \
  void apply_generator(Index k, const Vector& v, Vector& out) const override;                \
  void bind_fields(const Schema& schema) override;                                           \
  void accumulate_window(const Vector& theta) override;                                      \
  void record_final(const Vector& theta, const Batch& full, const EndMeasurements& measured, \
                    Record& out) override

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
  /// The ModelShape of the model these parameters would build, without building it (the file
  /// layout needs it for every point): the same function the model's constructor declares it
  /// with.
  std::function<ModelShape(const ParamSet&)> shape;
  std::function<std::unique_ptr<Model>(const ParamSet&)> create;
  /// Optional: declares the model's own fields (and any trailing dimensions they need, sized for
  /// the largest point of the grid) into the sweep's schema. The "step" dimension (the trace
  /// records) is declared before it is called.
  std::function<void(const Grid&, Schema&)> declare_fields;
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
/// before threads start; the registry is not locked. Throws Error when the name is taken, the
/// entry lacks a name, a factory or shape, or its model at the default parameters disagrees with
/// its declared shape (check_model_shape); the registry is then unchanged.
void register_model(ModelInfo info);

/// Checks that a built model reports what `declared` says: model.shape() equals it, the layers
/// cover theta (their sizes sum to dim()), conserved() fills `conserved` values at theta, and
/// every generator k < generator_count() applies. Throws Error naming the model, the count and
/// both values otherwise. `theta` is any parameter vector of the model (e.g. its initial one).
void check_model_shape(const std::string& name, Model& model, const ModelShape& declared,
                       const Vector& theta);

}  // namespace symsweep
