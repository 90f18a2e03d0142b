// The configuration reference of `symsweep --help`, generated from the schema itself.
#include <sstream>

#include "apps.hpp"
#include "symsweep/error.hpp"
#include "symsweep/model.hpp"
#include "symsweep/spec.hpp"
#include "text.hpp"

namespace symsweep::apps {

namespace {

std::string rule_of(const ParamDef& def) {
  return def.rule().substr(8);  // drop "must be "
}

/// Word-wraps `words` at 100 columns, every line indented by `indent` spaces.
std::string wrap(const std::string& words, std::size_t indent) {
  std::string out, line(indent, ' ');
  std::istringstream in(words);
  std::string word;
  while (in >> word) {
    if (line.size() > indent && line.size() + 1 + word.size() > 100) {
      out += line + "\n";
      line.assign(indent, ' ');
    }
    line += (line.size() > indent ? " " : "") + word;
  }
  return out + line + "\n";
}

void describe(std::ostringstream& out, const ParamDef& def) {
  // A key whose default is not a valid value must be given; an empty default of a key that
  // takes an empty value (a vector, a list) is shown as it is.
  bool required = false;
  try {
    parse_value(def, def.default_text);
  } catch (const ConfigError&) {
    required = true;
  }
  std::string shown = required ? "(required)" : def.default_text;
  if (def.key == "sweep.output") shown = "<name>.h5";
  out << "  " << def.name() << " = " << shown << (def.sweepable ? "  *" : "") << "\n"
      << wrap(def.help + "; " + rule_of(def), 6);
}

}  // namespace

std::string config_reference() {
  std::ostringstream out;
  out << "Configuration (INI: [section] lines, then key = value; '#' starts a comment).\n"
         "Defaults are shown; keys marked * may be swept in [axes]. Values by kind: a number;\n"
         "text; one word of a list; a vector 'a, b, c'; a matrix 'a, b; c, d' (rows by ';').\n";
  std::string section;
  for (const ParamDef& def : common_params()) {
    if (def.section() != section) {
      section = def.section();
      out << "\n[" << section << "]\n";
    }
    describe(out, def);
    if (def.key == "model.name") out << "  (the model's own keys follow: see Models below)\n";
  }
  out << "\n[axes]\n"
         "  section.key = 1, 2, 4 | linspace(a, b, n) | logspace(a, b, n) | geomspace(a, b, n)\n"
         "                | range(a, b[, step])          (numeric keys)\n"
         "  section.key = word1, word2                   (choice and text keys)\n"
         "  section.key = 1, 0 | 0, 1                    (vector and matrix keys: '|' between "
         "values)\n"
         "      sweep a key marked *: the grid is the Cartesian product of the axes, row-major\n"
         "      (the last axis varies fastest); a key is either fixed in its section or swept\n";
  out << "\nModels ([model] name = ...):\n";
  for (const ModelInfo& m : model_registry()) {
    out << "\n" << m.name << ": " << m.summary << "\n[model]\n";
    for (const ParamDef& def : m.params) describe(out, def);
  }
  return out.str();
}

}  // namespace symsweep::apps
