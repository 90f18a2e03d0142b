// Deep linear network. The maths is in include/symsweep/models/deeplinear.hpp.
#include "symsweep/models/deeplinear.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "prediction_settings.hpp"
#include "symsweep/data.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"
#include "text.hpp"

namespace symsweep {

ModelShape DeepLinear::shape_for(const std::vector<Index>& widths) {
  ModelShape s;
  for (std::size_t l = 1; l < widths.size(); ++l) s.layers.push_back(widths[l] * widths[l - 1]);
  for (std::size_t l = 1; l + 1 < widths.size(); ++l) {
    s.symmetry_blocks.push_back(widths[l]);
    s.conserved += widths[l];
  }
  return s;
}

std::optional<std::string> DeepLinear::widths_problem(const ParamSet& p) {
  const std::vector<double>& w = p.vector("model.widths");
  if (w.empty()) return std::nullopt;
  const std::int64_t depth = p.integer("model.depth");
  const std::string head = text::setting("model.widths", p.value("model.widths").text) + ": ";
  if (static_cast<std::int64_t>(w.size()) != depth - 1) {
    return head + "must have model.depth - 1 = " + std::to_string(depth - 1) +
           " value(s), one per hidden layer (model.depth = " + std::to_string(depth) +
           "), or be empty (every hidden layer model.h wide)";
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] != std::floor(w[i])) {
      return head + "element " + std::to_string(i + 1) + " (" + text::format_double(w[i]) +
             ") must be a whole number >= 1";
    }
  }
  return std::nullopt;
}

std::vector<Index> DeepLinear::widths_of(const ParamSet& p) {
  if (auto problem = widths_problem(p)) throw ConfigError(*problem);
  const Index depth = p.integer("model.depth");
  std::vector<Index> n = {p.integer("model.dx")};
  const std::vector<double>& w = p.vector("model.widths");
  for (Index l = 1; l < depth; ++l) {
    n.push_back(w.empty() ? p.integer("model.h")
                          : static_cast<Index>(w[static_cast<std::size_t>(l - 1)]));
  }
  n.push_back(p.integer("model.dy"));
  return n;
}

DeepLinear::DeepLinear(std::vector<Index> widths, std::vector<double> init_scales,
                       const Options& options)
    : Model(shape_for(widths)),
      n_(std::move(widths)),
      init_scales_(std::move(init_scales)),
      options_(options) {
  SYMSWEEP_VERIFY(n_.size() >= 3, "deeplinear needs depth >= 2");
  SYMSWEEP_VERIFY(*std::min_element(n_.begin(), n_.end()) >= 1, "deeplinear needs positive widths");
  const Index depth = this->depth();
  SYMSWEEP_VERIFY(static_cast<Index>(init_scales_.size()) == depth,
                  "deeplinear needs one init scale per layer");
  for (Index l = 1; l <= depth; ++l) {
    offset_.push_back(d_);
    d_ += width(l) * width(l - 1);
  }
  const auto levels = static_cast<std::size_t>(depth + 1);
  z_.resize(levels);
  delta_.resize(levels);
  dz_.resize(levels);
  ddelta_.resize(levels);
  zs_.resize(levels);
  ds_.resize(levels);
  b_.resize(levels);
  for (Index l = 0; l <= depth; ++l) {
    const auto i = static_cast<std::size_t>(l);
    zs_[i].resize(width(l));
    ds_[i].resize(width(l));
    b_[i].resize(width(depth), width(l));
  }
  // Reserved first: relocating a solver copies its uninitialised members (UBSan reads them).
  dmat_.reserve(static_cast<std::size_t>(depth));
  deig_.reserve(static_cast<std::size_t>(depth));
  for (Index l = 1; l < depth; ++l) {
    dmat_.emplace_back(width(l), width(l));
    deig_.emplace_back(width(l));
  }
}

// ------------------------------------------------------------------------------ the objective
void DeepLinear::reserve(Index max_batch) {
  if (z_.back().rows() >= max_batch) return;
  for (std::size_t l = 0; l < z_.size(); ++l) {
    const Index w = n_[l];
    z_[l].resize(max_batch, w);
    delta_[l].resize(max_batch, w);
    dz_[l].resize(max_batch, w);
    ddelta_[l].resize(max_batch, w);
  }
}

Index DeepLinear::checked_batch(const Vector& theta, const Batch& batch) {
  const Index s = batch.size();
  SYMSWEEP_VERIFY(theta.size() == d_, "theta has the wrong length");
  SYMSWEEP_VERIFY(
      batch.x.cols() == input_dim() && batch.y.cols() == output_dim() && batch.y.rows() == s,
      "batch has the wrong shape");
  reserve(s);
  return s;
}

Eigen::Ref<const RowMatrix> DeepLinear::input(const Batch& batch, Index l, Index s) const {
  if (l == 0) return batch.x;
  return z_[static_cast<std::size_t>(l)].topRows(s);
}

double DeepLinear::forward(const Vector& theta, const Batch& batch) {
  const Index s = checked_batch(theta, batch);
  const Index depth = this->depth();
  for (Index l = 1; l <= depth; ++l) {
    z_[static_cast<std::size_t>(l)].topRows(s).noalias() =
        input(batch, l - 1, s) * layer_matrix(theta, l).transpose();
  }
  auto r = z_.back().topRows(s);
  r -= batch.y;
  return 0.5 * r.squaredNorm() / static_cast<double>(s);
}

double DeepLinear::loss(const Vector& theta, const Batch& batch) {
  return forward(theta, batch);
}

double DeepLinear::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  SYMSWEEP_VERIFY(grad.size() == d_, "grad has the wrong length");
  const double l0 = forward(theta, batch);
  const Index s = batch.size(), depth = this->depth();
  delta_.back().topRows(s) = z_.back().topRows(s) / static_cast<double>(s);
  for (Index l = depth; l >= 1; --l) {
    const auto i = static_cast<std::size_t>(l);
    Eigen::Map<Matrix> g(grad.data() + offset_[i - 1], width(l), width(l - 1));
    g.noalias() = delta_[i].topRows(s).transpose() * input(batch, l - 1, s);
    if (l > 1) delta_[i - 1].topRows(s).noalias() = delta_[i].topRows(s) * layer_matrix(theta, l);
  }
  return l0;
}

void DeepLinear::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v,
                                Vector& out) {
  SYMSWEEP_VERIFY(v.size() == d_, "v has the wrong length");
  forward(theta, batch);
  const Index s = batch.size(), depth = this->depth();
  const double inv_s = 1.0 / static_cast<double>(s);
  // Tangent forward pass: dZ_l = dZ_{l-1} W_l^T + Z_{l-1} dW_l^T (dZ_0 = 0).
  for (Index l = 1; l <= depth; ++l) {
    const auto i = static_cast<std::size_t>(l);
    auto dz = dz_[i].topRows(s);
    dz.noalias() = input(batch, l - 1, s) * layer_matrix(v, l).transpose();
    if (l > 1) dz.noalias() += dz_[i - 1].topRows(s) * layer_matrix(theta, l).transpose();
  }
  delta_.back().topRows(s) = z_.back().topRows(s) * inv_s;
  ddelta_.back().topRows(s) = dz_.back().topRows(s) * inv_s;
  out.resize(d_);
  for (Index l = depth; l >= 1; --l) {
    const auto i = static_cast<std::size_t>(l);
    Eigen::Map<Matrix> o(out.data() + offset_[i - 1], width(l), width(l - 1));
    o.noalias() = ddelta_[i].topRows(s).transpose() * input(batch, l - 1, s);
    if (l > 1) {
      o.noalias() += delta_[i].topRows(s).transpose() * dz_[i - 1].topRows(s);
      auto dd = ddelta_[i - 1].topRows(s);
      dd.noalias() = ddelta_[i].topRows(s) * layer_matrix(theta, l);
      dd.noalias() += delta_[i].topRows(s) * layer_matrix(v, l);
      delta_[i - 1].topRows(s).noalias() = delta_[i].topRows(s) * layer_matrix(theta, l);
    }
  }
}

double DeepLinear::hessian_trace(const Vector& theta, const Batch& batch) {
  forward(theta, batch);
  const Index s = batch.size(), depth = this->depth();
  const double inv_s = 1.0 / static_cast<double>(s);
  // B_L = I: |B_L|^2 = dy; B_{l-1} = B_l W_l.
  double t = 0, b_norm = static_cast<double>(output_dim());
  for (Index l = depth; l >= 1; --l) {
    const auto i = static_cast<std::size_t>(l);
    t += b_norm * input(batch, l - 1, s).squaredNorm() * inv_s;
    if (l > 1) {
      if (l == depth) {
        b_[i - 1] = layer_matrix(theta, l);
      } else {
        b_[i - 1].noalias() = b_[i] * layer_matrix(theta, l);
      }
      b_norm = b_[i - 1].squaredNorm();
    }
  }
  return t;
}

void DeepLinear::sample_gradients(const Vector& theta, const Batch& batch, RowMatrix& out,
                                  Vector& /*scratch*/) {
  SYMSWEEP_VERIFY(theta.size() == d_ && out.rows() >= batch.size() && out.cols() == d_,
                  "sample_gradients: buffers have the wrong shape");
  SYMSWEEP_VERIFY(batch.x.cols() == input_dim() && batch.y.cols() == output_dim(),
                  "batch has the wrong shape");
  const Index depth = this->depth();
  const auto top = static_cast<std::size_t>(depth);
  for (Index s = 0; s < batch.size(); ++s) {
    zs_[0] = batch.x.row(s).transpose();
    for (std::size_t l = 1; l <= top; ++l) {
      zs_[l].noalias() = layer_matrix(theta, static_cast<Index>(l)) * zs_[l - 1];
    }
    ds_[top] = zs_[top] - batch.y.row(s).transpose();
    for (std::size_t l = top; l >= 1; --l) {
      Eigen::Map<Matrix> g(out.row(s).data() + offset_[l - 1], n_[l], n_[l - 1]);
      g.noalias() = ds_[l] * zs_[l - 1].transpose();
      if (l > 1) {
        ds_[l - 1].noalias() = layer_matrix(theta, static_cast<Index>(l)).transpose() * ds_[l];
      }
    }
  }
}

// ------------------------------------------------------------------------------ the symmetry
Matrix DeepLinear::conserved_matrix(const Vector& theta, Index l) const {
  SYMSWEEP_VERIFY(l >= 1 && l < depth(), "deeplinear: D_l needs 1 <= l < depth");
  const ConstMap up = layer_matrix(theta, l + 1), down = layer_matrix(theta, l);
  return up.transpose() * up - down * down.transpose();
}

void DeepLinear::conserved(const Vector& theta, Vector& out) const {
  out.resize(conserved_size());
  Index at = 0;
  for (Index l = 1; l < depth(); ++l) {
    const auto b = static_cast<std::size_t>(l - 1);
    const ConstMap up = layer_matrix(theta, l + 1), down = layer_matrix(theta, l);
    dmat_[b].noalias() = up.transpose() * up;
    dmat_[b].noalias() -= down * down.transpose();
    deig_[b].compute(dmat_[b], Eigen::EigenvaluesOnly);
    out.segment(at, width(l)) = deig_[b].eigenvalues().reverse();
    at += width(l);
  }
}

void DeepLinear::generator_site(Index k, Index& l, Index& i, Index& j) const {
  SYMSWEEP_VERIFY(k >= 0 && k < generator_count(), "deeplinear: bad generator");
  const ModelShape& s = shape();
  Index b = 0;
  while (b + 1 < static_cast<Index>(s.symmetry_blocks.size()) && k >= s.first_generator(b + 1)) {
    ++b;
  }
  l = b + 1;
  const Index h = width(l);
  Index rest = k - s.first_generator(b);
  // M = E_ii (rest < h), else E_ij + E_ji for the (rest - h)-th pair i < j, row by row.
  i = rest;
  j = rest;
  if (rest >= h) {
    rest -= h;
    i = 0;
    while (rest >= h - 1 - i) {
      rest -= h - 1 - i;
      ++i;
    }
    j = i + 1 + rest;
  }
}

void DeepLinear::apply_generator(Index k, const Vector& v, Vector& out) const {
  SYMSWEEP_VERIFY(v.size() == d_ && out.size() == d_, "deeplinear: bad vector length");
  Index l = 0, i = 0, j = 0;
  generator_site(k, l, i, j);
  out.setZero();
  const ConstMap up = layer_matrix(v, l + 1), down = layer_matrix(v, l);
  Eigen::Map<Matrix> oup(out.data() + offset_[static_cast<std::size_t>(l)], width(l + 1), width(l));
  Eigen::Map<Matrix> odown(out.data() + offset_[static_cast<std::size_t>(l - 1)], width(l),
                           width(l - 1));
  // (W_{l+1} M, -M W_l): W_{l+1} M's column j is W_{l+1}'s column i (and i's is j's); M W_l's row
  // i is W_l's row j.
  oup.col(j) = up.col(i);
  odown.row(i) = -down.row(j);
  if (i != j) {
    oup.col(i) = up.col(j);
    odown.row(j) = -down.row(i);
  }
}

double DeepLinear::generator_quadratic(Index k, const Vector& v, Vector& /*scratch*/) const {
  SYMSWEEP_VERIFY(v.size() == d_, "deeplinear: bad vector length");
  Index l = 0, i = 0, j = 0;
  generator_site(k, l, i, j);
  const ConstMap up = layer_matrix(v, l + 1), down = layer_matrix(v, l);
  if (i == j) return up.col(i).squaredNorm() - down.row(i).squaredNorm();
  return 2.0 * (up.col(i).dot(up.col(j)) - down.row(i).dot(down.row(j)));
}

void DeepLinear::accumulate_flow_matrix(Index b, const Vector& v, Matrix& f,
                                        Vector& /*scratch*/) const {
  const Index l = b + 1;
  SYMSWEEP_VERIFY(
      l >= 1 && l < depth() && v.size() == d_ && f.rows() == width(l) && f.cols() == width(l),
      "deeplinear: bad symmetry block or matrix size");
  const ConstMap up = layer_matrix(v, l + 1), down = layer_matrix(v, l);
  f.noalias() += up.transpose() * up;
  f.noalias() -= down * down.transpose();
}

void DeepLinear::initialize(NormalSource& normal, Vector& theta) const {
  theta.resize(d_);
  for (Index l = 1; l <= depth(); ++l) {
    const auto i = static_cast<std::size_t>(l - 1);
    const double sd = init_scales_[i] / std::sqrt(static_cast<double>(width(l - 1)));
    const Index size = width(l) * width(l - 1);
    for (Index e = 0; e < size; ++e) theta[offset_[i] + e] = sd * normal.normal();
  }
}

// ------------------------------------------------------------------------- noise equilibrium
void DeepLinear::prepare_diagnostics(const Batch& full) {
  data_moments(full, sigma_x_, v_, sigma_eps_);
  const Vector sv = Eigen::JacobiSVD<Matrix>(v_).singularValues();
  v_rank_ = 0;
  for (Index i = 0; i < sv.size(); ++i) {
    if (sv[i] > 1e-10 * std::max(1.0, sv[0])) ++v_rank_;
  }
  // The equilibrium exists where the noise and the data see all of V: Sigma_x positive definite
  // and rank(Sigma_eps^{1/2} V Sigma_x^{1/2}) = rank V (the top pair's two sides must reach
  // rank V); see the dl_gap_predicted description.
  const Eigen::SelfAdjointEigenSolver<Matrix> ex(sigma_x_, Eigen::EigenvaluesOnly);
  const Eigen::SelfAdjointEigenSolver<Matrix> ee(sigma_eps_);
  const Vector lx = ex.eigenvalues(), le = ee.eigenvalues();
  Vector root = le.cwiseMax(0.0).cwiseSqrt();
  const Matrix eps_sqrt = ee.eigenvectors() * root.asDiagonal() * ee.eigenvectors().transpose();
  const Vector sm = Eigen::JacobiSVD<Matrix>(eps_sqrt * v_).singularValues();
  Index m_rank = 0;
  for (Index i = 0; i < sm.size(); ++i) {
    if (sm[i] > 1e-10 * std::max(1.0, sm.size() ? sm[0] : 0.0)) ++m_rank;
  }
  equilibrium_exists_ =
      lx.size() > 0 && lx.minCoeff() > 1e-12 * std::max(1.0, lx.maxCoeff()) && m_rank == v_rank_;
  const Index depth = this->depth();
  const auto levels = static_cast<std::size_t>(depth + 1);
  kx_.assign(levels, Matrix());
  ke_.assign(levels, Matrix());
  tx_.assign(levels, Matrix());
  te_.assign(levels, Matrix());
  for (Index l = 0; l <= depth; ++l) {
    const auto i = static_cast<std::size_t>(l);
    kx_[i].resize(width(l), width(l));
    ke_[i].resize(width(l), width(l));
    if (l >= 1) {
      tx_[i].resize(width(l), width(l - 1));
      te_[i].resize(width(l - 1), width(l));
    }
  }
  gaps_.resize(depth - 1);
  gap_sum_ = Vector::Zero(depth - 1);
  norms_.resize(depth);
  norm_sum_ = Vector::Zero(depth);
  window_count_ = 0;
}

void DeepLinear::balance_gaps(const Vector& theta, Vector& gaps) {
  const Index depth = this->depth();
  SYMSWEEP_VERIFY(kx_.size() == static_cast<std::size_t>(depth + 1),
                  "deeplinear: balance_gaps before prepare_diagnostics");
  const auto top = static_cast<std::size_t>(depth);
  // Kx_l = F_l Sx F_l^T = W_l Kx_{l-1} W_l^T; Ke_l = B_l^T Se B_l, Ke_{l-1} = W_l^T Ke_l W_l.
  kx_[0] = sigma_x_;
  for (std::size_t l = 1; l < top; ++l) {
    const ConstMap w = layer_matrix(theta, static_cast<Index>(l));
    tx_[l].noalias() = w * kx_[l - 1];
    kx_[l].noalias() = tx_[l] * w.transpose();
  }
  ke_[top] = sigma_eps_;
  for (std::size_t l = top; l >= 2; --l) {
    const ConstMap w = layer_matrix(theta, static_cast<Index>(l));
    te_[l].noalias() = w.transpose() * ke_[l];
    ke_[l - 1].noalias() = te_[l] * w;
  }
  gaps.resize(depth - 1);
  // Downwards, so that Kx_{l-1} is still itself when layer l is normalised by its trace.
  for (std::size_t l = top - 1; l >= 1; --l) {
    // Tr Ke_{l+1} = 0 (no label noise): NaN, there is no equilibrium.
    kx_[l] /= kx_[l - 1].trace();
    kx_[l] -= ke_[l] / ke_[l + 1].trace();
    gaps[static_cast<Index>(l - 1)] = kx_[l].norm();
  }
}

void DeepLinear::accumulate_window(const Vector& theta) {
  balance_gaps(theta, gaps_);
  gap_sum_ += gaps_;
  for (Index l = 1; l <= depth(); ++l) norm_sum_[l - 1] += layer_matrix(theta, l).squaredNorm();
  ++window_count_;
}

void DeepLinear::bind_fields(const Schema& schema) {
  f_gap_ = schema.id(Group::results, "dl_gap");
  f_pred_ = schema.id(Group::results, "dl_gap_predicted");
  f_norm_ = schema.id(Group::results, "dl_layer_norm");
  f_trace_gap_ = schema.find(Group::traces, "dl_gap");
  trace_pairs_ = f_trace_gap_ >= 0 ? schema.find_dim("pair")->coords.size() : 0;
}

void DeepLinear::record_traces(const Vector& theta, Record& out, std::size_t slot) {
  if (f_trace_gap_ < 0 || !out.schema().present(f_trace_gap_)) return;
  balance_gaps(theta, gaps_);
  out.set_reals(f_trace_gap_, gaps_.data(), static_cast<std::size_t>(gaps_.size()),
                slot * trace_pairs_);
}

void DeepLinear::record_final(const Vector& theta, const Batch& /*full*/,
                              const EndMeasurements& /*measured*/, Record& out) {
  const Index depth = this->depth();
  if (window_count_ > 0) {
    const double inv = 1.0 / static_cast<double>(window_count_);
    gaps_ = gap_sum_ * inv;
    norms_ = norm_sum_ * inv;
  } else {
    balance_gaps(theta, gaps_);
    for (Index l = 1; l <= depth; ++l) norms_[l - 1] = layer_matrix(theta, l).squaredNorm();
  }
  out.set_reals(f_gap_, gaps_.data(), static_cast<std::size_t>(depth - 1));
  out.set_reals(f_norm_, norms_.data(), static_cast<std::size_t>(depth));
  Index narrowest = width(1);
  for (Index l = 1; l < depth; ++l) narrowest = std::min(narrowest, width(l));
  const bool holds = options_.equilibrium_settings && sigma_eps_.trace() > 0 &&
                     narrowest >= v_rank_ && equilibrium_exists_;
  const Vector predicted =
      Vector::Constant(depth - 1, holds ? 0.0 : std::numeric_limits<double>::quiet_NaN());
  out.set_reals(f_pred_, predicted.data(), static_cast<std::size_t>(depth - 1));
}

// ------------------------------------------------------------------------------ the registry
namespace {
void declare_deeplinear_fields(const Grid& grid, Schema& schema) {
  Index depth = 2;
  grid.for_each_combination(
      [](const std::string& key) { return key == "model.depth"; },
      [&](const ParamSet& p) { depth = std::max(depth, p.integer("model.depth")); });
  std::vector<std::int64_t> pairs(static_cast<std::size_t>(depth - 1));
  for (std::size_t k = 0; k < pairs.size(); ++k) pairs[k] = static_cast<std::int64_t>(k + 1);
  std::vector<std::int64_t> layers(static_cast<std::size_t>(depth));
  for (std::size_t k = 0; k < layers.size(); ++k) layers[k] = static_cast<std::int64_t>(k + 1);
  schema.add_dim({"pair",
                  "hidden layer l (between W_l and W_{l+1}) of a deep linear network; NaN past "
                  "a point's depth - 1",
                  pairs});
  schema.add_dim(
      {"dl_layer", "layer l (W_l) of a deep linear network; NaN past a point's depth", layers});
  const Group R = Group::results;
  const std::string gap =
      "Frobenius norm of F_l Sx F_l^T / Tr(F_{l-1} Sx F_{l-1}^T) - B_l^T Se B_l / Tr(B_{l+1}^T "
      "Se B_{l+1}) for hidden layer l (F_l = W_l...W_1, B_l = W_L...W_{l+1}, Sx and Se the "
      "input and label-noise covariances of the full objective): zero at the noise equilibrium "
      "of the pair (W_l, W_{l+1}); NaN without label noise";
  schema.add(real_field(R, "dl_gap", "balance gap per hidden layer",
                        gap + ", averaged over the last record.final_window steps (the final state "
                              "when 0 or when the run ended before); NaN if diverged",
                        "", {"pair"}));
  schema.add(real_field(
      R, "dl_gap_predicted", "predicted balance gap",
      "0, the noise equilibrium Tr[A_M Sigma] = 0 of every pair at a minimum (to O(eta)); assumes "
      "optimizer.method = sgd (under gd each D_l keeps its start), data.mode = online, "
      "optimizer.weight_decay = 0, label noise, every hidden width >= rank V (the minimum "
      "fits the teacher), Sigma_x positive definite and rank(Sigma_eps^{1/2} V) = rank V (the "
      "noise reaches all of V, so the top pair's two sides can balance); NaN otherwise",
      "", {"pair"}));
  schema.add(real_field(R, "dl_layer_norm", "|W_l|_F^2",
                        "squared Frobenius norm of W_l (the norm balance between layers), "
                        "averaged over the last record.final_window steps (the final state when "
                        "0 or when the run ended before); NaN if diverged",
                        "", {"dl_layer"}));
  if (parse_diagnostics(grid.spec().text("record.diagnostics")).traced(Diagnostics::model)) {
    schema.add(real_field(Group::traces, "dl_gap", "balance gap per hidden layer",
                          "dl_gap (unaveraged) at /traces/step", "", {"step", "pair"}));
  }
}
}  // namespace

ModelInfo deeplinear_info() {
  using models_detail::dimension_key;
  using models_detail::scale_key;
  ModelInfo info;
  info.name = "deeplinear";
  info.summary =
      "deep linear network f = W_L ... W_1 x, l = 1/2 |f - y|^2; conserved D_l = W_{l+1}^T "
      "W_{l+1} - W_l W_l^T per hidden layer";
  info.params = {
      ParamDef{"model.depth",
               ParamKind::Integer,
               "3",
               "number of layers L (weight matrices W_1 .. W_L)",
               Range{2, 64},
               {},
               true},
      dimension_key("model.dx", "2", "input dimension"),
      dimension_key("model.h", "2", "width of every hidden layer (unless model.widths is given)"),
      dimension_key("model.dy", "2", "output dimension"),
      ParamDef{"model.widths",
               ParamKind::Vector,
               "",
               "the hidden widths n_1, ..., n_{L-1} (model.depth - 1 whole numbers); empty: "
               "model.h each",
               Range{1, 4096},
               {},
               true},
      scale_key("model.init_scale",
                "W_l entries ~ N(0, s_l^2 / n_{l-1}) with s_l = init_scale (times the two keys "
                "below for W_1 and W_L)"),
      scale_key("model.init_first_scale", "multiplies W_1's init scale (an imbalanced start)"),
      scale_key("model.init_last_scale", "multiplies W_L's init scale (an imbalanced start)"),
  };
  info.rules = {
      {{"model.widths", "model.depth"}, &DeepLinear::widths_problem},
  };
  info.shape = [](const ParamSet& p) { return DeepLinear::shape_for(DeepLinear::widths_of(p)); };
  info.declare_fields = &declare_deeplinear_fields;
  // Doubles held: four batch buffers per level (Z, Delta and their tangents: 4 S sum n_l), the
  // per-sample vectors and B_l (2 sum n_l + dy sum n_l), D_l and its solver (~4 n_l^2 per hidden
  // layer), the equilibrium's Kx, Ke and temporaries (2 n_l^2 + 2 n_l n_{l-1} per level), and the
  // data moments with their temporaries (~9 dx^2 + 9 dx dy + 4 dy^2, as linear2's).
  info.footprint = [](const ParamSet& p, Index max_batch) {
    const std::vector<Index> n = DeepLinear::widths_of(p);
    double sum = 0, sq = 0, pairs = 0;
    Index d = 0;
    for (std::size_t l = 0; l < n.size(); ++l) {
      const auto w = static_cast<double>(n[l]);
      sum += w;
      sq += w * w;
      if (l > 0) {
        pairs += w * static_cast<double>(n[l - 1]);
        d += n[l] * n[l - 1];
      }
    }
    const auto dx = static_cast<double>(n.front()), dy = static_cast<double>(n.back());
    ModelFootprint f;
    f.dim = d;
    f.input_dim = n.front();
    f.output_dim = n.back();
    f.bytes = 8.0 * (4 * static_cast<double>(max_batch) * sum + (2 + dy) * sum + 6 * sq +
                     2 * pairs + 9 * dx * dx + 9 * dx * dy + 4 * dy * dy);
    return f;
  };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    const std::vector<Index> n = DeepLinear::widths_of(p);
    const auto depth = static_cast<std::size_t>(n.size() - 1);
    std::vector<double> scales(depth, p.number("model.init_scale"));
    scales.front() *= p.number("model.init_first_scale");
    scales.back() *= p.number("model.init_last_scale");
    DeepLinear::Options o;
    const models_detail::PredictionSettings settings = models_detail::prediction_settings(p);
    o.equilibrium_settings = settings.noisy && settings.online && settings.weight_decay == 0.0;
    return std::make_unique<DeepLinear>(n, scales, o);
  };
  return info;
}

}  // namespace symsweep
