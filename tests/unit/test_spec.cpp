// Spec parsing, overrides, the resolved config text, and every validation error.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../common/probe_model.hpp"
#include "symsweep/error.hpp"
#include "symsweep/grid.hpp"
#include "symsweep/rng.hpp"
#include "symsweep/spec.hpp"

namespace symsweep {
namespace {

const char* const kBase = R"(
# a comment
[sweep]
name = unit
seed = 42

[model]
name = linear2
dx = 3
h = 2
dy = 2

[data]
n = 32
noise_var = 0.5   # trailing comment

[optimizer]
steps = 200

[axes]
optimizer.eta = logspace(-2, 0, 3)
optimizer.batch = 1, 4, 32
)";

TEST(Spec, ParsesValuesDefaultsAndAxes) {
  const SweepSpec spec = parse_spec(kBase);
  EXPECT_EQ(spec.name(), "unit");
  EXPECT_EQ(spec.output(), "unit.h5");  // default <name>.h5
  EXPECT_EQ(spec.model(), "linear2");
  EXPECT_EQ(spec.number("sweep.seed"), 42);
  EXPECT_EQ(spec.number("model.dx"), 3);
  EXPECT_EQ(spec.number("data.noise_var"), 0.5);
  EXPECT_EQ(spec.number("data.x_var"), 1.0);            // default
  EXPECT_EQ(spec.text("data.mode"), "finite");          // default
  EXPECT_EQ(spec.number("optimizer.weight_decay"), 0);  // default
  ASSERT_EQ(spec.axes().size(), 2u);
  EXPECT_EQ(spec.axes()[0].key, "optimizer.eta");
  EXPECT_EQ(spec.axes()[0].numbers(), (std::vector<double>{0.01, 0.1, 1.0}));
  EXPECT_EQ(spec.axes()[1].key, "optimizer.batch");
  EXPECT_EQ(spec.axes()[1].numbers(), (std::vector<double>{1, 4, 32}));
  EXPECT_TRUE(spec.is_axis("optimizer.eta"));
  EXPECT_FALSE(spec.is_axis("optimizer.steps"));
}

TEST(Spec, ModelKeysFollowModelName) {
  const SweepSpec spec = parse_spec(kBase);
  const int name = spec.find("model.name");
  ASSERT_GE(name, 0);
  EXPECT_EQ(spec.schema()[static_cast<std::size_t>(name) + 1].key, "model.dx");
}

TEST(Spec, OverridesReplaceFileValues) {
  const SweepSpec spec = parse_spec(kBase, {"optimizer.steps=7", "data.noise_var = 0.25"});
  EXPECT_EQ(spec.number("optimizer.steps"), 7);
  EXPECT_EQ(spec.number("data.noise_var"), 0.25);
}

TEST(Spec, OverridingASweptKeyFixesIt) {
  const SweepSpec spec = parse_spec(kBase, {"optimizer.eta=0.05"});
  EXPECT_FALSE(spec.is_axis("optimizer.eta"));
  EXPECT_EQ(spec.number("optimizer.eta"), 0.05);
  ASSERT_EQ(spec.axes().size(), 1u);
  EXPECT_EQ(spec.axes()[0].key, "optimizer.batch");
}

TEST(Spec, OverridingAnAxisKeepsItsPositionAndNewAxesGoLast) {
  const SweepSpec spec =
      parse_spec(kBase, {"axes.optimizer.eta=0.1, 0.2", "axes.sweep.seed=range(0, 3)"});
  ASSERT_EQ(spec.axes().size(), 3u);
  EXPECT_EQ(spec.axes()[0].key, "optimizer.eta");
  EXPECT_EQ(spec.axes()[0].numbers(), (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(spec.axes()[2].key, "sweep.seed");
  EXPECT_EQ(spec.axes()[2].numbers(), (std::vector<double>{0, 1, 2}));
}

TEST(Spec, SweepingAFixedKeyByOverrideDropsTheFixedValue) {
  const SweepSpec spec = parse_spec(kBase, {"axes.optimizer.steps=10, 20"});
  EXPECT_TRUE(spec.is_axis("optimizer.steps"));
}

TEST(Spec, ConfigTextRoundTrips) {
  const SweepSpec a = parse_spec(kBase, {"optimizer.weight_decay=1e-3", "sweep.output=x/y.h5"});
  const std::string text = a.config_text();
  const SweepSpec b = parse_spec(text);
  EXPECT_EQ(b.config_text(), text);
  EXPECT_EQ(b.text("sweep.name"), a.text("sweep.name"));
  for (const auto& def : a.schema()) {
    if (def.key != "sweep.output" && !a.is_axis(def.key) && def.numeric()) {
      EXPECT_EQ(b.number(def.key), a.number(def.key)) << def.key;
    }
  }
  ASSERT_EQ(b.axes().size(), a.axes().size());
  for (std::size_t i = 0; i < a.axes().size(); ++i) {
    EXPECT_EQ(b.axes()[i].key, a.axes()[i].key);
    EXPECT_EQ(b.axes()[i].numbers(), a.axes()[i].numbers());  // bit-identical
  }
  EXPECT_NE(text.find("[axes]\noptimizer.eta = logspace(-2, 0, 3)\n"), std::string::npos);
  // Swept keys appear only in [axes].
  EXPECT_EQ(text.find("\neta ="), std::string::npos);
  EXPECT_EQ(text.find("output ="), std::string::npos);  // the output path is not configuration
  EXPECT_EQ(b.output(), "unit.h5");
}

TEST(Spec, IntegersWrittenAsRealsAreAccepted) {
  const SweepSpec spec = parse_spec(kBase, {"optimizer.steps=1e3"});
  EXPECT_EQ(spec.number("optimizer.steps"), 1000);
}

TEST(Spec, ParseNumberIsStrict) {
  ParamDef def{"optimizer.eta", ParamKind::Real, "1", "", Range::above(0), {}, true};
  EXPECT_EQ(parse_number(def, " 2.5e-1 "), 0.25);
  EXPECT_THROW(parse_number(def, "0.1x"), ConfigError);
  EXPECT_THROW(parse_number(def, ""), ConfigError);
  EXPECT_THROW(parse_number(def, "nan"), ConfigError);
  EXPECT_THROW(parse_number(def, "1e999"), ConfigError);
  EXPECT_THROW(parse_number(def, "0x10"), ConfigError);
  EXPECT_THROW(parse_number(def, "1,5"), ConfigError);
}

TEST(Spec, RangeDescriptions) {
  EXPECT_EQ(Range::above(0).describe(ParamKind::Real), "must be > 0");
  EXPECT_EQ(Range::at_least(1).describe(ParamKind::Integer), "must be an integer >= 1");
  EXPECT_EQ((Range{0, 1, false, true}).describe(ParamKind::Real), "must be in [0, 1)");
  EXPECT_TRUE(Range::above(0).contains(1e-300));
  EXPECT_FALSE(Range::above(0).contains(0));
  EXPECT_TRUE(Range::at_least(0).contains(0));
}

// ----------------------------------------------------------------------------- validation errors
struct BadInput {
  std::string name;
  std::string ini;                     // replaces kBase when non-empty
  std::vector<std::string> overrides;  // applied on top
  std::vector<std::string> expected;   // substrings of the message: key, value, rule
};

void PrintTo(const BadInput& b, std::ostream* os) {
  *os << b.name;
}

class SpecErrors : public ::testing::TestWithParam<BadInput> {};

TEST_P(SpecErrors, NamesKeyValueAndRule) {
  const BadInput& bad = GetParam();
  const std::string ini = bad.ini.empty() ? kBase : bad.ini;
  try {
    parse_spec(ini, bad.overrides);
    FAIL() << "no ConfigError for " << bad.name;
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    for (const auto& part : bad.expected) {
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    }
  }
}

const std::string kMinimal = "[model]\nname = linear2\n";

INSTANTIATE_TEST_SUITE_P(
    AllRules, SpecErrors,
    ::testing::Values(
        BadInput{"UnknownModel",
                 "[model]\nname = resnet\n",
                 {},
                 {"model.name", "'resnet'", "unknown model", "linear2"}},
        BadInput{"MissingModel", "[sweep]\nname = x\n", {}, {"model.name", "missing", "linear2"}},
        BadInput{"UnknownKey",
                 "",
                 {"optimizer.lr=0.1"},
                 {"optimizer.lr", "'0.1'", "unknown key in [optimizer]", "eta"}},
        BadInput{"UnknownModelKey",
                 kMinimal + "depth = 3\n",
                 {},
                 {"model.depth", "'3'", "for model 'linear2'", "dx, h, dy"}},
        BadInput{"UnknownSection",
                 kMinimal + "[solver]\nx = 1\n",
                 {},
                 {"config:3: [solver]: unknown section; sections are sweep, model"}},
        BadInput{"SectionInOtherCase",
                 "[Model]\nname = linear2\n",
                 {},
                 {"config:1: [Model]: unknown section; section names are lower case: [model]"}},
        BadInput{"KeyOutsideSection",
                 "steps = 3\n" + kMinimal,
                 {},
                 {"steps", "'3'", "inside a [section]"}},
        BadInput{"DuplicateKey",
                 kMinimal + "[optimizer]\neta = 0.1\neta = 0.2\n",
                 {},
                 {"config:5: optimizer.eta = '0.2': given twice (first at config:4)"}},
        BadInput{"FixedAndSwept",
                 kMinimal + "[optimizer]\neta = 0.1\n[axes]\noptimizer.eta = 1,2\n",
                 {},
                 {"axes.optimizer.eta", "'1,2'", "either fixed or swept"}},
        BadInput{"UnsweepableAxis",
                 kMinimal + "[axes]\nrecord.every = 1, 2\n",
                 {},
                 {"axes.record.every", "'1, 2'", "not a parameter that can be swept"}},
        BadInput{"UnsweepableTextAxis",
                 kMinimal + "[axes]\nsweep.name = a, b\n",
                 {},
                 {"axes.sweep.name", "not a parameter that can be swept"}},
        BadInput{"ChoiceAxisValue",
                 kMinimal + "[axes]\ndata.mode = finite, offline\n",
                 {},
                 {"axes.data.mode = 'offline'", "must be one of finite, online"}},
        BadInput{"EmptyAxis",
                 "",
                 {"axes.optimizer.eta="},
                 {"axes.optimizer.eta", "''", "at least one value"}},
        BadInput{"EmptyLinspace",
                 "",
                 {"axes.optimizer.eta=linspace(0.1, 1, 0)"},
                 {"axes.optimizer.eta", "linspace(0.1, 1, 0)", "at least one value"}},
        BadInput{"EmptyRange",
                 "",
                 {"axes.optimizer.steps=range(5, 5)"},
                 {"axes.optimizer.steps", "range(5, 5)", "at least one value"}},
        BadInput{"NegativeStepSize",
                 "",
                 {"optimizer.eta=-0.1", "axes.optimizer.batch=1"},
                 {"optimizer.eta", "'-0.1'", "must be > 0"}},
        BadInput{"ZeroStepSize", "", {"optimizer.eta=0"}, {"optimizer.eta", "'0'", "must be > 0"}},
        BadInput{"NegativeStepSizeOnAxis",
                 "",
                 {"axes.optimizer.eta=0.1, -1"},
                 {"axes.optimizer.eta", "'0.1, -1'", "value -1", "must be > 0"}},
        BadInput{"BatchLargerThanN",
                 kMinimal + "[data]\nn = 8\n[optimizer]\nbatch = 16\n",
                 {},
                 {"optimizer.batch", "16", "must be <= data.n (8)"}},
        BadInput{"BatchAxisLargerThanN",
                 "",
                 {"data.n=16"},
                 {"optimizer.batch", "32", "must be <= data.n (16)", "optimizer.batch = 32"}},
        BadInput{"UnparsableNumber",
                 "",
                 {"data.noise_var=0.1.2"},
                 {"data.noise_var", "'0.1.2'", "not a number"}},
        BadInput{"UnparsableAxisNumber",
                 "",
                 {"axes.optimizer.eta=0.1, abc"},
                 {"axes.optimizer.eta", "abc", "not a number"}},
        BadInput{"FractionalInteger",
                 "",
                 {"optimizer.steps=2.5"},
                 {"optimizer.steps", "'2.5'", "must be an integer"}},
        BadInput{"FractionalIntegerAxis",
                 "",
                 {"axes.optimizer.batch=1, 2.5"},
                 {"axes.optimizer.batch", "value 2.5", "must be an integer >= 1"}},
        BadInput{"BadChoice",
                 "",
                 {"data.mode=streaming"},
                 {"data.mode", "'streaming'", "must be one of finite, online"}},
        BadInput{"ZeroSteps",
                 "",
                 {"optimizer.steps=0"},
                 {"optimizer.steps", "'0'", "must be an integer in [1, 1e+12]"}},
        BadInput{"NegativeSeed", "", {"sweep.seed=-1"}, {"sweep.seed", "'-1'", "integer in [0"}},
        BadInput{"ZeroWidth", "", {"model.h=0"}, {"model.h", "'0'", "integer in [1, 4096]"}},
        // inf, nan and a literal past a double's range: one wording (issue 15, item 11).
        BadInput{"InfiniteValue",
                 "",
                 {"data.x_var=inf"},
                 {"data.x_var", "'inf'", "not a finite number"}},
        BadInput{"NegativeInfinity",
                 "",
                 {"optimizer.eta=-Infinity"},
                 {"optimizer.eta", "'-Infinity'", "not a finite number"}},
        BadInput{"NotANumberWord",
                 "",
                 {"data.x_var=NaN"},
                 {"data.x_var", "'NaN'", "not a finite number"}},
        BadInput{"OverflowingLiteral",
                 "",
                 {"optimizer.eta=1e400"},
                 {"optimizer.eta", "'1e400'", "not a finite number"}},
        // A trace schedule or final window longer than the run (item 11): both keys, both values;
        // with steps swept, the smallest value is the one named.
        BadInput{"RecordEveryPastSteps",
                 "",
                 {"record.every=300"},
                 {"record.every = 300", "optimizer.steps (200)"}},
        BadInput{"FinalWindowPastSteps",
                 "",
                 {"record.final_window=201"},
                 {"record.final_window = 201", "optimizer.steps (200)"}},
        BadInput{"FinalWindowPastSweptSteps",
                 "",
                 {"record.final_window=150", "axes.optimizer.steps=1000, 100, 500"},
                 {"record.final_window = 150", "optimizer.steps (100)"}},
        BadInput{"RecordEveryPastSweptSteps",
                 "",
                 {"record.every=120", "axes.optimizer.steps=100, 1000"},
                 {"record.every = 120", "optimizer.steps (100)"}},
        // The exact enumeration of batch sequences (issue 17): kBase has n = 32 and batches of
        // 1, 4 and 32, 200 steps.
        BadInput{"ExactStepsPastSteps",
                 "",
                 {"stability.exact_steps=300", "record.every=1"},
                 {"stability.exact_steps = 300", "optimizer.steps (200)"}},
        BadInput{"ExactStepsTooManyPaths",
                 "",
                 {"stability.exact_steps=6", "record.every=1"},
                 {"stability.exact_steps = 6", "C(32, 1)^6 = 1073741824", "at most 2^25"}},
        BadInput{"ExactStepsOnline",
                 "",
                 {"stability.exact_steps=2", "record.every=1", "data.mode=online"},
                 {"stability.exact_steps = 2", "needs data.mode = finite"}},
        BadInput{"ExactStepsReshuffled",
                 "",
                 {"stability.exact_steps=2", "record.every=1", "optimizer.sampling=reshuffle"},
                 {"stability.exact_steps = 2", "needs optimizer.sampling = iid"}},
        BadInput{"ExactStepsWithoutTraces",
                 "",
                 {"stability.exact_steps=2"},
                 {"stability.exact_steps = 2", "needs record.every > 0"}},
        BadInput{"ExactStepsWithTheChecksOff",
                 "",
                 {"stability.exact_steps=2", "record.every=1", "stability.sgd_checks=false"},
                 {"stability.exact_steps = 2", "needs stability.sgd_checks = true"}},
        BadInput{"SgdChecksNotTrueOrFalse",
                 "",
                 {"stability.sgd_checks=yes"},
                 {"stability.sgd_checks", "'yes'", "must be one of true, false"}},
        BadInput{"BatchLimitZero",
                 "",
                 {"stability.batch_limit=0"},
                 {"stability.batch_limit", "'0'", "must be an integer in [1, "}},
        BadInput{"EmptyName", "", {"sweep.name="}, {"sweep.name", "''", "must not be empty"}},
        BadInput{"NameWithSpace",
                 "",
                 {"sweep.name=my sweep"},
                 {"sweep.name", "'my sweep'", "only letters, digits"}},
        BadInput{"SetWithoutEquals", "", {"optimizer.eta"}, {"--set 'optimizer.eta'", "key=value"}},
        BadInput{"SetWithoutSection", "", {"eta=0.1"}, {"--set 'eta=0.1'", "section.key"}},
        BadInput{"DuplicateAxisValue",
                 "",
                 {"axes.optimizer.batch=1, 2, 1"},
                 {"axes.optimizer.batch", "value 1 appears twice"}},
        BadInput{"MalformedLine",
                 kMinimal + "[optimizer]\nthis line has no equals sign\n",
                 {},
                 {"config:4: 'this line has no equals sign': expected '[section]' or 'key = "
                  "value'"}},
        BadInput{"IntegerTooLarge",
                 "",
                 {"optimizer.batch=99999999999999999999"},
                 {"--set optimizer.batch = '99999999999999999999': too large; integers must be "
                  "at most 2^53"}},
        BadInput{"ValueOnItsLine",
                 kMinimal + "[optimizer]\n\n  eta = -1   # a comment\n",
                 {},
                 {"config:5: optimizer.eta = '-1': must be > 0"}},
        BadInput{"GridTooLarge",
                 "",
                 {"axes.optimizer.eta=linspace(0.01, 1, 20000)",
                  "axes.optimizer.weight_decay=linspace(0, 1, 20000)",
                  "axes.data.noise_var=linspace(0, 1, 20000)"},
                 {"axes = optimizer.eta[20000] x optimizer.batch[3]", "at most 2^40"}},
        BadInput{"AxisTooLong",
                 "",
                 {"axes.optimizer.eta=linspace(0.01, 1, 2e6)"},
                 {"axes.optimizer.eta", "the count 2e6", "[0, 1e+06]"}},
        BadInput{"TooManyRecords",
                 "",
                 {"optimizer.steps=1e9", "record.every=1"},
                 {"record.every", "1000000001 trace records per point", "at most 1e+06"}},
        BadInput{"InfiniteAxisValue",
                 "",
                 {"axes.optimizer.eta=logspace(0, 400, 2)"},
                 {"axes.optimizer.eta", "logspace(0, 400, 2)", "value inf is not a finite number"}},
        BadInput{"UnknownAxisFunction",
                 "",
                 {"axes.optimizer.eta=arange(0, 1, 0.1)"},
                 {"axes.optimizer.eta", "unknown function 'arange'"}},
        BadInput{"UnknownDiagnostic",
                 "",
                 {"record.diagnostics=loss, hessian"},
                 {"record.diagnostics = 'loss, hessian'", "unknown diagnostic 'hessian'",
                  "must be default, none, or a list of loss, C, theta_norm, hessian_trace, "
                  "sharpness, grad_noise, noether_flow, dist_to_min, model"}},
        BadInput{"EmptyDiagnosticItem",
                 "",
                 {"record.diagnostics=loss,,C"},
                 {"record.diagnostics = 'loss,,C'", "item 2 is empty"}},
        BadInput{"EmptyDiagnostics",
                 "",
                 {"record.diagnostics="},
                 {"record.diagnostics = ''", "must not be empty"}},
        BadInput{"DiagnosticsNoneBesideOthers",
                 "",
                 {"record.diagnostics=none, loss"},
                 {"record.diagnostics = 'none, loss'", "none must stand alone"}},
        BadInput{
            "DiagnosticWithoutAResultsField",
            "",
            {"record.diagnostics=results.loss"},
            {"record.diagnostics = 'results.loss'", "loss is measured on the trace records only"}},
        BadInput{"DiagnosticsSwept",
                 "",
                 {"axes.record.diagnostics=loss, C"},
                 {"axes.record.diagnostics", "not a parameter that can be swept"}}),
    [](const ::testing::TestParamInfo<BadInput>& p) { return p.param.name; });

TEST(Spec, DiagnosticsListTheirScopes) {
  const Diagnostics all = parse_diagnostics("default");
  EXPECT_TRUE(all.end(Diagnostics::sharpness) && all.traced(Diagnostics::sharpness));
  EXPECT_FALSE(all.end(Diagnostics::loss));  // the final loss is always measured
  const Diagnostics some = parse_diagnostics(" loss , results.sharpness,traces.grad_noise ");
  EXPECT_TRUE(some.traced(Diagnostics::loss));
  EXPECT_TRUE(some.end(Diagnostics::sharpness));
  EXPECT_FALSE(some.traced(Diagnostics::sharpness));
  EXPECT_TRUE(some.traced(Diagnostics::grad_noise));
  EXPECT_FALSE(some.end(Diagnostics::grad_noise));
  EXPECT_FALSE(some.end(Diagnostics::C) || some.traced(Diagnostics::C));
  const Diagnostics none = parse_diagnostics("none");
  for (int i = 0; i < Diagnostics::count; ++i) EXPECT_FALSE(none.at_end[i] || none.on_traces[i]);
  // Not in the stream key: what is measured does not move the simulated path.
  const SweepSpec plain = parse_spec(kBase);
  const SweepSpec quiet = parse_spec(kBase, {"record.diagnostics=none"});
  EXPECT_EQ(stream_key(Grid(quiet).params(0)), stream_key(Grid(plain).params(0)));
}

// A UTF-8 byte-order mark before the first line is skipped: the file parses as without it, to the
// same resolved config (issue 15, item 11).
TEST(Spec, SkipsAUtf8ByteOrderMark) {
  const SweepSpec plain = parse_spec(kBase);
  const SweepSpec marked = parse_spec(std::string("\xEF\xBB\xBF") + kBase);
  EXPECT_EQ(marked.config_text(), plain.config_text());
  // On a first line that is a section header too.
  const SweepSpec header = parse_spec("\xEF\xBB\xBF[model]\nname = linear2\ndx = 5\n");
  EXPECT_EQ(header.number("model.dx"), 5);
  // Only at the start: elsewhere it is a bad line, named as such.
  try {
    parse_spec(std::string(kBase) + "\xEF\xBB\xBF\n");
    FAIL() << "a mark inside the file was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("expected '[section]' or 'key = value'"),
              std::string::npos)
        << e.what();
  }
}

// The bounds of the record rules are inclusive: a window or a trace step of the whole run is fine.
TEST(Spec, RecordEveryAndFinalWindowMayEqualSteps) {
  const SweepSpec spec = parse_spec(
      kBase, {"record.every=200", "record.final_window=200", "axes.optimizer.steps=200, 300"});
  EXPECT_EQ(spec.number("record.every"), 200);
  EXPECT_EQ(spec.number("record.final_window"), 200);
}

// ------------------------------------------------------------------- typed values: one grammar
ParamDef vector_def(Range range = Range::any()) {
  return ParamDef{"model.x0", ParamKind::Vector, "", "", range, {}, true};
}
ParamDef matrix_def() {
  return ParamDef{"model.A", ParamKind::Matrix, "", "", Range::any(), {}, true};
}

TEST(Spec, ExactStepsUpToTwoToThe25PathsAndTheRunsLengthAreAccepted) {
  // 32^5 = 2^25 paths at batch 1, 32^5 at batch 31, one path (GD) at batch 32; 5 <= steps.
  const SweepSpec spec = parse_spec(kBase, {"stability.exact_steps=5", "record.every=1",
                                            "optimizer.steps=5", "axes.optimizer.batch=1, 31, 32"});
  EXPECT_EQ(spec.number("stability.exact_steps"), 5);
  EXPECT_THROW(parse_spec(kBase, {"stability.exact_steps=5", "record.every=1", "optimizer.steps=5",
                                  "axes.optimizer.batch=1, 2"}),
               ConfigError);  // C(32, 2)^5 = 496^5
}

TEST(Values, VectorsAndMatricesHaveACanonicalText) {
  const Value v = parse_value(vector_def(), " 0.01,0 , -2.50e0 ");
  EXPECT_EQ(v.numbers, (std::vector<double>{0.01, 0, -2.5}));
  EXPECT_EQ(v.rows, 3u);
  EXPECT_EQ(v.cols, 1u);
  EXPECT_EQ(v.text, "0.01, 0, -2.5");
  const Value m = parse_value(matrix_def(), "1,0.5 ;0.5,  2.0;0,1e-3");
  EXPECT_EQ(m.rows, 3u);
  EXPECT_EQ(m.cols, 2u);
  EXPECT_EQ(m.numbers, (std::vector<double>{1, 0.5, 0.5, 2, 0, 0.001}));  // row by row
  EXPECT_EQ(m.text, "1, 0.5; 0.5, 2; 0, 0.001");
  // The canonical text parses to the same numbers, bit for bit.
  EXPECT_EQ(parse_value(matrix_def(), m.text).numbers, m.numbers);
  EXPECT_EQ(parse_value(vector_def(), "0.1").numbers, (std::vector<double>{0.1}));
  const Value empty = parse_value(vector_def(), "  ");
  EXPECT_TRUE(empty.numbers.empty());
  EXPECT_EQ(empty.text, "");
}

/// The message of the ConfigError `fn` throws, or "no error".
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Values, ErrorsNameTheKeyTheValueAndTheRule) {
  const auto message = [](const ParamDef& def, const std::string& text) {
    return error_of([&] { parse_value(def, text); });
  };
  EXPECT_EQ(message(matrix_def(), "1, 2; 3"),
            "model.A = '1, 2; 3': row 2 has 1 value(s) but row 1 has 2; every row must have the "
            "same length");
  EXPECT_EQ(message(vector_def(), "1, x, 3"),
            "model.x0 = '1, x, 3': element 2 'x' is not a finite number; must be a vector of "
            "finite numbers (values separated by ',')");
  EXPECT_EQ(message(vector_def(), "1, , 3"),
            "model.x0 = '1, , 3': element 2 is empty; must be a vector of finite numbers (values "
            "separated by ',')");
  EXPECT_EQ(message(vector_def(Range::at_least(0)), "1, -1"),
            "model.x0 = '1, -1': element 2 (-1) breaks the rule: must be a vector of finite "
            "numbers >= 0 (values separated by ',')");
  EXPECT_EQ(message(vector_def(), "1; 2"),
            "model.x0 = '1; 2': a vector has one row (values separated by ','); ';' separates "
            "the rows of a matrix");
  EXPECT_EQ(message(matrix_def(), "1, 2; 3, nan"),
            "model.A = '1, 2; 3, nan': element (2, 2) 'nan' is not a finite number; must be a "
            "matrix of finite numbers (rows separated by ';', values by ',')");
}

class ProbeSpec : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::ProbeModel::ensure_registered(); }
};

const char* const kSpecProbe = R"(
[model]
name = probe
x0 = 1,2
A = 2,0 ; 0,3
)";

TEST_F(ProbeSpec, TypedValuesRoundTripThroughConfigTextAndSet) {
  const SweepSpec a = parse_spec(kSpecProbe, {"axes.model.variant=right, left"});
  EXPECT_EQ(a.value("model.x0").numbers, (std::vector<double>{1, 2}));
  EXPECT_EQ(a.value("model.A").rows, 2u);
  const std::string text = a.config_text();
  EXPECT_NE(text.find("x0 = 1, 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("A = 2, 0; 0, 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[axes]\nmodel.variant = right, left\n"), std::string::npos) << text;
  const SweepSpec b = parse_spec(text);
  EXPECT_EQ(b.config_text(), text);
  EXPECT_EQ(b.value("model.A").numbers, a.value("model.A").numbers);
  // --set takes the same grammar.
  const SweepSpec c = parse_spec(kSpecProbe, {"model.x0=3, 4, 5", "model.A=1,0,0;0,1,0;0,0,1"});
  EXPECT_EQ(c.value("model.x0").numbers.size(), 3u);
  EXPECT_EQ(c.value("model.A").text, "1, 0, 0; 0, 1, 0; 0, 0, 1");
}

TEST_F(ProbeSpec, ChoiceAndVectorAxesGiveEveryPointItsValue) {
  const SweepSpec spec = parse_spec(
      kSpecProbe, {"model.A=", "axes.model.x0=1, 2 | -3", "axes.model.variant=left, right"});
  ASSERT_EQ(spec.axes().size(), 2u);
  EXPECT_EQ(spec.axes()[0].kind, ParamKind::Vector);
  EXPECT_EQ(spec.axes()[0].values[0].text, "1, 2");
  EXPECT_EQ(spec.axes()[0].values[1].text, "-3");
  EXPECT_THROW(spec.axes()[0].numbers(), Error);  // not a numeric axis
  const Grid grid(spec);
  ASSERT_EQ(grid.size(), 4u);
  EXPECT_EQ(grid.params(0).vector("model.x0"), (std::vector<double>{1, 2}));
  EXPECT_EQ(grid.params(0).text("model.variant"), "left");
  EXPECT_EQ(grid.params(1).text("model.variant"), "right");
  EXPECT_EQ(grid.params(3).vector("model.x0"), (std::vector<double>{-3}));
  EXPECT_EQ(grid.params(3).text("model.variant"), "right");
}

TEST_F(ProbeSpec, TypedValueErrors) {
  const auto message = [](const std::vector<std::string>& sets) {
    return error_of([&] { parse_spec(kSpecProbe, sets); });
  };
  // A cross rule over a vector axis names the grid points it fails at.
  EXPECT_EQ(message({"axes.model.x0=1, 2 | 1, 2, 3"}),
            "model.A = '2, 0; 0, 3': must be 3 x 3 (the length of model.x0) (at grid points with "
            "model.x0 = 1, 2, 3)");
  EXPECT_EQ(message({"axes.model.x0=1, 2 | 1,2"}),
            "--set axes.model.x0 = '1, 2 | 1,2': value '1, 2' appears twice; axis values must be "
            "distinct");
  EXPECT_EQ(
      message({"axes.model.x0=1, 2 | 1, y"}),
      "--set axes.model.x0 = '1, y': element 2 'y' is not a finite number; must be a vector of "
      "finite numbers (values separated by ',')");
  EXPECT_EQ(message({"axes.model.variant=left, , right"}),
            "--set axes.model.variant = 'left, , right': an empty item; values are separated by "
            "','");
  EXPECT_EQ(message({"axes.model.A=1 | 2"}),
            "--set axes.model.A = '1 | 2': not a parameter that can be swept; sweepable "
            "keys: sweep.seed, model.x0, model.variant, data.mode, data.n, data.x_var, "
            "data.x_decay, data.teacher_scale, data.teacher_decay, data.noise_var, "
            "data.noise_decay, data.x_cov, data.noise_cov, data.teacher, optimizer.eta, "
            "optimizer.batch, optimizer.method, optimizer.sampling, optimizer.schedule, "
            "optimizer.warmup_steps, optimizer.decay_every, optimizer.decay_factor, "
            "optimizer.steps, "
            "optimizer.weight_decay, optimizer.tol, optimizer.divergence_bound, stability.x_star, "
            "stability.period_tol");
}

TEST(Spec, SectionNamesMayBePadded) {
  const SweepSpec spec = parse_spec("[ model ]\nname = linear2\n[  optimizer]\neta = 0.5\n");
  EXPECT_EQ(spec.number("optimizer.eta"), 0.5);
}

TEST(Messages, QuoteCutsLongValuesAndEscapesBinaryBytes) {
  const std::string big(1200000, 'x');
  const std::string long_message =
      error_of([&] { parse_spec("[model]\nname = linear2\n[optimizer]\neta = " + big + "\n"); });
  EXPECT_LT(long_message.size(), 300u) << long_message.substr(0, 300);
  EXPECT_NE(long_message.find("...' (1200000 bytes): not a number"), std::string::npos)
      << long_message;
  const std::string binary(
      "\x7f"
      "ELF\x02\x01\x01\0\0\0\n\x03\0>\0",
      16);
  const std::string message = error_of([&] { parse_spec(binary); });
  EXPECT_EQ(message,
            "config:1: '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00': expected '[section]' or "
            "'key = value'");
  for (char c : message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "a raw byte in the message";
}

TEST(Messages, ADirectoryIsNotAConfigFile) {
  EXPECT_EQ(error_of([] { read_config_file("/tmp"); }),
            "config file '/tmp': is a directory; name an INI file");
}

}  // namespace
}  // namespace symsweep
