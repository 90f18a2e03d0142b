// Polynomial potentials. The maths is in include/symsweep/models/poly.hpp.
#include "symsweep/models/poly.hpp"

#include <cmath>
#include <optional>
#include <string>

#include "detmath.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "text.hpp"

namespace symsweep {

namespace {

/// prod of x[i_b] over the factor positions b not in `used` (a bit mask of positions).
double rest(const Monomial& m, const Vector& x, unsigned used) {
  double p = 1.0;
  for (int b = 0; b < m.degree; ++b) {
    if (!(used & (1u << b))) p *= x[m.idx[static_cast<std::size_t>(b)]];
  }
  return p;
}

Index at(const Monomial& m, int a) {
  return m.idx[static_cast<std::size_t>(a)];
}

}  // namespace

Poly::Poly(Index d, Index samples, std::vector<Monomial> monomials, Vector x0)
    : Model(ModelShape{}),
      d_(d),
      n_(samples),
      by_sample_(static_cast<std::size_t>(samples)),
      x0_(std::move(x0)) {
  SYMSWEEP_VERIFY(d >= 1 && samples >= 1 && x0_.size() == d, "poly: bad dimensions");
  for (const Monomial& m : monomials) {
    SYMSWEEP_VERIFY(m.sample >= 0 && m.sample < samples, "poly: sample index out of range");
    for (int a = 0; a < m.degree; ++a) {
      SYMSWEEP_VERIFY(at(m, a) >= 0 && at(m, a) < d, "poly: variable index out of range");
    }
    by_sample_[static_cast<std::size_t>(m.sample)].push_back(m);
  }
}

const std::vector<Monomial>& Poly::of_row(const Batch& batch, Index s) const {
  const auto sample = static_cast<Index>(batch.x(s, 0));
  SYMSWEEP_VERIFY(sample >= 0 && sample < n_, "poly: a batch row is not one of its samples");
  return by_sample_[static_cast<std::size_t>(sample)];
}

double Poly::loss_grad(const Vector& theta, const Batch& batch, Vector& grad) {
  SYMSWEEP_VERIFY(grad.size() == d_ && theta.size() == d_, "poly: wrong lengths");
  grad.setZero();
  double l = 0;
  for (Index s = 0; s < batch.size(); ++s) {
    for (const Monomial& m : of_row(batch, s)) {
      l += m.coef * rest(m, theta, 0);
      for (int a = 0; a < m.degree; ++a) grad[at(m, a)] += m.coef * rest(m, theta, 1u << a);
    }
  }
  const double inv = 1.0 / static_cast<double>(batch.size());
  grad *= inv;
  return l * inv;
}

double Poly::loss(const Vector& theta, const Batch& batch) {
  double l = 0;
  for (Index s = 0; s < batch.size(); ++s) {
    for (const Monomial& m : of_row(batch, s)) l += m.coef * rest(m, theta, 0);
  }
  return l / static_cast<double>(batch.size());
}

void Poly::hessian_vector(const Vector& theta, const Batch& batch, const Vector& v, Vector& out) {
  out = Vector::Zero(d_);
  for (Index s = 0; s < batch.size(); ++s) {
    for (const Monomial& m : of_row(batch, s)) {
      for (int a = 0; a < m.degree; ++a) {
        for (int b = 0; b < m.degree; ++b) {
          if (b == a) continue;
          out[at(m, a)] += m.coef * v[at(m, b)] * rest(m, theta, (1u << a) | (1u << b));
        }
      }
    }
  }
  out /= static_cast<double>(batch.size());
}

void Poly::hessian(const Vector& theta, const Batch& batch, Matrix& h) {
  h = Matrix::Zero(d_, d_);
  for (Index s = 0; s < batch.size(); ++s) {
    for (const Monomial& m : of_row(batch, s)) {
      for (int a = 0; a < m.degree; ++a) {
        for (int b = 0; b < m.degree; ++b) {
          if (b != a) h(at(m, a), at(m, b)) += m.coef * rest(m, theta, (1u << a) | (1u << b));
        }
      }
    }
  }
  h /= static_cast<double>(batch.size());
}

bool Poly::directional_derivatives(const Vector& theta, const Batch& batch, const Vector& v,
                                   Vector& t_vv, double& q_vvvv) {
  t_vv = Vector::Zero(d_);
  q_vvvv = 0;
  for (Index s = 0; s < batch.size(); ++s) {
    for (const Monomial& m : of_row(batch, s)) {
      for (int a = 0; a < m.degree; ++a) {
        for (int b = 0; b < m.degree; ++b) {
          for (int e = 0; e < m.degree; ++e) {
            if (b == a || e == a || e == b) continue;
            const unsigned used = (1u << a) | (1u << b) | (1u << e);
            t_vv[at(m, a)] += m.coef * v[at(m, b)] * v[at(m, e)] * rest(m, theta, used);
            for (int f = 0; f < m.degree; ++f) {
              if (used & (1u << f)) continue;
              q_vvvv += m.coef * v[at(m, a)] * v[at(m, b)] * v[at(m, e)] * v[at(m, f)] *
                        rest(m, theta, used | (1u << f));
            }
          }
        }
      }
    }
  }
  const double inv = 1.0 / static_cast<double>(batch.size());
  t_vv *= inv;
  q_vvvv *= inv;
  return true;
}

bool Poly::own_data(RowMatrix& x, RowMatrix& y) const {
  x.resize(n_, 1);
  y = RowMatrix::Zero(n_, 1);
  for (Index s = 0; s < n_; ++s) x(s, 0) = static_cast<double>(s);
  return true;
}

void Poly::initialize(NormalSource& /*normal*/, Vector& theta) const {
  theta = x0_;  // the run starts where the config says
}

// ------------------------------------------------------------------------------------ registry
namespace {

Monomial mono(Index sample, double coef, std::initializer_list<Index> idx) {
  Monomial m;
  m.sample = sample;
  m.coef = coef;
  for (Index i : idx) m.idx[static_cast<std::size_t>(m.degree++)] = i;
  return m;
}

struct PolySpec {
  Index d = 1, n = 1;
  std::vector<Monomial> monomials;
};

/// The potentials of a point's parameters. Throws ConfigError for a malformed custom list.
PolySpec spec_of(const ParamSet& p) {
  const std::string& preset = p.text("model.preset");
  PolySpec s;
  if (preset == "f_plus" || preset == "f_minus") {
    s.monomials = {mono(0, 0.5, {0, 0}), mono(0, preset == "f_plus" ? 0.25 : -0.25, {0, 0, 0, 0})};
  } else if (preset == "L_beta") {
    s.d = 2;
    s.monomials = {mono(0, 0.5, {0, 0}), mono(0, 0.1, {1, 1}),
                   mono(0, p.number("model.beta"), {0, 0, 1}), mono(0, 0.1, {0, 0, 0, 0})};
  } else if (preset == "prop6") {
    s.n = 2;
    s.monomials = {mono(0, 0.5, {0, 0}), mono(0, 0.25, {0, 0, 0, 0}),
                   mono(1, 0.5 * p.number("model.a"), {0, 0})};
  } else if (preset == "spread") {
    // h_i = h_min (h_max / h_min)^(i / (n - 1)): log-uniform, both ends included, computed
    // through detmath so that the curvatures are the same bits on every CPU.
    s.n = p.integer("data.n");
    const double lo = p.number("model.h_min"), hi = p.number("model.h_max");
    const double q = p.number("model.q");
    const double log_ratio = det::log(hi / lo);
    for (Index i = 0; i < s.n; ++i) {
      const double h =
          i == 0 ? lo
          : i == s.n - 1
              ? hi
              : lo * det::exp(log_ratio * static_cast<double>(i) / static_cast<double>(s.n - 1));
      s.monomials.push_back(mono(i, 0.5 * h, {0, 0}));
      s.monomials.push_back(mono(i, 0.25 * q, {0, 0, 0, 0}));
    }
  } else {  // custom
    s.d = p.integer("model.d");
    const Value& rows = p.value("model.monomials");
    const std::string head = "model.monomials = '" + rows.text + "': ";
    if (rows.numbers.empty()) throw ConfigError(head + "model.preset = custom needs monomials");
    if (rows.cols != 6) {
      throw ConfigError(head +
                        "every row is 'sample, coefficient, i1, i2, i3, i4' (6 values; "
                        "-1 for an unused factor)");
    }
    for (std::size_t r = 0; r < rows.rows; ++r) {
      const double* row = rows.numbers.data() + 6 * r;
      Monomial m;
      m.coef = row[1];
      const auto whole = [](double v) { return v == std::floor(v); };
      if (!whole(row[0]) || row[0] < 0) {
        throw ConfigError(head + "row " + std::to_string(r + 1) +
                          ": the sample must be a whole number >= 0");
      }
      m.sample = static_cast<Index>(row[0]);
      s.n = std::max(s.n, m.sample + 1);
      for (int k = 2; k < 6; ++k) {
        if (row[k] == -1) continue;
        if (!whole(row[k]) || row[k] < 0 || row[k] >= static_cast<double>(s.d)) {
          throw ConfigError(head + "row " + std::to_string(r + 1) + ": factor " +
                            std::to_string(k - 1) + " must be -1 or a variable index in [0, " +
                            std::to_string(s.d - 1) + "] (model.d = " + std::to_string(s.d) + ")");
        }
        m.idx[static_cast<std::size_t>(m.degree++)] = static_cast<Index>(row[k]);
      }
      s.monomials.push_back(m);
    }
  }
  return s;
}

}  // namespace

ModelInfo poly_info() {
  ModelInfo info;
  info.name = "poly";
  info.summary =
      "a polynomial loss of degree <= 4 per sample (presets f_plus, f_minus, L_beta, prop6, "
      "spread, or custom monomials); exact third and fourth derivatives for the nonlinear "
      "stability checks";
  info.params = {
      ParamDef{"model.preset",
               ParamKind::Choice,
               "f_minus",
               "the potentials: f_plus, f_minus (x^2/2 +- x^4/4), L_beta (x1^2/2 + x2^2/10 + "
               "beta x1^2 x2 + x1^4/10), prop6 (x^2/2 + x^4/4 and a x^2/2, two samples), spread "
               "(data.n samples h_i x^2/2 + q x^4/4, h_i log-uniform over [h_min, h_max]), custom",
               {},
               {"f_plus", "f_minus", "L_beta", "prop6", "spread", "custom"},
               true},
      ParamDef{"model.beta", ParamKind::Real, "0.25", "beta of L_beta", Range::any(), {}, true},
      ParamDef{"model.a", ParamKind::Real, "0.5", "a of prop6", Range::any(), {}, true},
      ParamDef{"model.h_min",
               ParamKind::Real,
               "0.5",
               "spread: the smallest per-sample curvature h_i (sample 0)",
               Range::above(0),
               {},
               true},
      ParamDef{"model.h_max",
               ParamKind::Real,
               "4",
               "spread: the largest per-sample curvature h_i (sample data.n - 1; >= model.h_min)",
               Range::above(0),
               {},
               true},
      ParamDef{"model.q",
               ParamKind::Real,
               "1",
               "spread: the quartic coefficient of every sample, q x^4/4 (q > 0: an unstable "
               "batch diverges super-geometrically, as f_plus does)",
               Range::at_least(0),
               {},
               true},
      ParamDef{"model.d",
               ParamKind::Integer,
               "1",
               "number of variables (custom only)",
               Range{1, 4096},
               {},
               true},
      ParamDef{"model.monomials",
               ParamKind::Matrix,
               "",
               "custom only: rows 'sample, coefficient, i1, i2, i3, i4' (-1: no factor)",
               Range::any(),
               {},
               false},
      ParamDef{"model.x0",
               ParamKind::Vector,
               "0.1",
               "the starting point (length d)",
               Range::any(),
               {},
               true},
  };
  info.rules = {
      {{"model.preset", "model.d", "model.monomials", "model.x0", "data.n", "data.mode",
        "model.beta", "model.a", "model.h_min", "model.h_max", "model.q"},
       [](const ParamSet& p) -> std::optional<std::string> {
         if (p.text("model.preset") == "spread" &&
             !(p.number("model.h_max") >= p.number("model.h_min"))) {
           return "model.h_max = " + text::format_double(p.number("model.h_max")) +
                  ": must be >= model.h_min (" + text::format_double(p.number("model.h_min")) +
                  ") for model.preset = spread";
         }
         const PolySpec s = spec_of(p);
         const auto x0 = p.vector("model.x0").size();
         if (static_cast<Index>(x0) != s.d) {
           return "model.x0 = '" + p.value("model.x0").text + "': must have " +
                  std::to_string(s.d) +
                  " value(s), one per variable of model.preset = " + p.text("model.preset");
         }
         if (p.text("data.mode") != "finite") {
           return "data.mode = " + p.text("data.mode") +
                  ": poly's data are its own samples; use data.mode = finite";
         }
         if (p.integer("data.n") != s.n) {
           return "data.n = " + std::to_string(p.integer("data.n")) +
                  ": model.preset = " + p.text("model.preset") + " has " + std::to_string(s.n) +
                  " sample(s); set data.n = " + std::to_string(s.n) +
                  " (and optimizer.batch <= " + std::to_string(s.n) + ")";
         }
         return std::nullopt;
       }},
  };
  info.shape = [](const ParamSet&) { return ModelShape{}; };
  // The monomials twice (the spec and the model's per-sample lists), a dense Hessian and its
  // temporaries (~4 d^2, d <= a few), vectors.
  info.footprint = [](const ParamSet& p, Index /*max_batch*/) {
    const PolySpec s = spec_of(p);
    const double d = static_cast<double>(s.d);
    ModelFootprint f;
    f.dim = s.d;
    f.input_dim = 1;
    f.output_dim = 1;
    f.bytes = 2.0 * static_cast<double>(s.monomials.size() * sizeof(Monomial)) +
              8.0 * (4 * d * d + 16 * d + 2.0 * static_cast<double>(s.n));
    return f;
  };
  info.create = [](const ParamSet& p) -> std::unique_ptr<Model> {
    PolySpec s = spec_of(p);
    const auto& x0 = p.vector("model.x0");
    return std::make_unique<Poly>(s.d, s.n, std::move(s.monomials),
                                  Eigen::Map<const Vector>(x0.data(), s.d));
  };
  return info;
}

}  // namespace symsweep
