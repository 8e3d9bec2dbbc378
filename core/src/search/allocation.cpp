// The allocation format (`*.alloc.json`, docs/allocation-format.md): reading it with its
// `default` and glob `rules` expanded into one setting per module, checking every setting against
// the module's shape, and writing every module out explicitly (atomically).
#include "bitscape/allocation.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/safe_write.h"

namespace bitscape {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "bitscape-allocation";
constexpr int kVersion = 1;

// --- names and messages -------------------------------------------------------------------------

// A user-supplied string in single quotes, JSON-escaped so that the message stays on one line.
std::string in_quotes(const std::string& s) { return quote_for_message(s); }

// The shortest decimal form that reads back as the same double ("0.0045", "1.5").
std::string number_string(double v) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v || std::isnan(v)) break;
  }
  return buf;
}

// A JSON value for a message: its type and (shortened) text.
std::string describe(const json& v) { return describe_json(v); }

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

// "the model has 6 blocks and 42 modules", counting blocks from "model.layers.N." names.
std::string model_size_text(const std::vector<ModuleShape>& shapes) {
  std::set<std::string> blocks;
  const std::string prefix = "model.layers.";
  for (const ModuleShape& s : shapes) {
    if (s.name.rfind(prefix, 0) != 0) continue;
    const size_t end = s.name.find('.', prefix.size());
    blocks.insert(s.name.substr(prefix.size(), end - prefix.size()));
  }
  return "the model has " + std::to_string(blocks.size()) + " blocks and " +
         std::to_string(shapes.size()) + " modules";
}

// Glob over module names: `*` matches any run of characters (dots included), `?` one character.
bool glob_match(const std::string& pattern, const std::string& name) {
  size_t p = 0, n = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// --- enum names ---------------------------------------------------------------------------------

// clang-format off
const std::pair<QuantizerKind, const char*> kQuantizerNames[] = {
    {QuantizerKind::kRtn, "rtn"},
    {QuantizerKind::kGptq, "gptq"},
    {QuantizerKind::kHqq, "hqq"},
    {QuantizerKind::kAwq, "awq"},
    {QuantizerKind::kKmeans, "kmeans"},
};
// clang-format on

const char* axis_name(ChannelAxis a) { return a == ChannelAxis::kIn ? "in" : "out"; }

const char* select_name(ChannelSelect s) {
  switch (s) {
    case ChannelSelect::kTop:
      return "top";
    case ChannelSelect::kLow:
      return "low";
    case ChannelSelect::kTopAndLow:
      return "top_and_low";
    case ChannelSelect::kIndices:
      return "indices";
  }
  return "?";
}

const char* statistic_name(ChannelStatistic s) {
  return s == ChannelStatistic::kActivation ? "activation" : "weight";
}

bool valid_bits(int bits) { return (bits >= 2 && bits <= 8) || bits == kUnquantizedBits; }

// --- reading ------------------------------------------------------------------------------------

const std::vector<std::string> kTopKeys = {"format",  "version", "name",  "model",
                                           "comment", "default", "rules", "modules"};
const std::vector<std::string> kModuleKeys = {
    "bits",          "group_size", "quantizer",     "symmetric", "clip_search", "act_order",
    "static_groups", "damp",       "codebook_axis", "channels",  "outliers"};
const std::vector<std::string> kChannelsKeys = {"axis", "classes"};
const std::vector<std::string> kClassKeys = {"bits",     "select",  "by",
                                             "fraction", "indices", "strategy"};
const std::vector<std::string> kOutlierKeys = {"activation_fraction", "quantization_fraction"};

// Reads the fields of one part of the file (`where`: "default", "rules[2]", "module M") and
// reports problems as InputError(path, "<where>: <problem> (field 'f')").
class Reader {
 public:
  Reader(std::string path, std::string where) : path_(std::move(path)), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    std::string message = where_.empty() ? problem : where_ + ": " + problem;
    if (!field.empty()) message += " (field '" + field + "')";
    throw InputError(path_, message);
  }

  void check_keys(const json& obj, const std::vector<std::string>& known, const std::string& prefix,
                  const std::string& also_allowed = "") const {
    for (const auto& item : obj.items()) {
      const std::string& key = item.key();
      if (key == also_allowed) continue;
      bool ok = false;
      for (const auto& k : known) ok = ok || key == k;
      if (!ok) {
        std::vector<std::string> allowed = known;
        if (!also_allowed.empty()) allowed.insert(allowed.begin(), also_allowed);
        fail("", "unknown field " + in_quotes(prefix + key) + " (known: " + join(allowed) + ")");
      }
    }
  }

  void expect_object(const json& v, const std::string& field) const {
    if (!v.is_object()) fail(field, "expected an object, got " + describe(v));
  }

  int64_t integer(const json& v, const std::string& field) const {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()})
      fail(field, "value " + v.dump() + " out of range");
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && std::abs(d) < 9.0e15 && d == std::floor(d))
        return static_cast<int64_t>(d);
    }
    fail(field, "expected an integer, got " + describe(v));
  }

  int small_integer(const json& v, const std::string& field) const {
    const int64_t i = integer(v, field);
    if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max())
      fail(field, "value " + std::to_string(i) + " out of range");
    return static_cast<int>(i);
  }

  double number(const json& v, const std::string& field) const {
    if (!v.is_number()) fail(field, "expected a number, got " + describe(v));
    return v.get<double>();
  }

  bool boolean(const json& v, const std::string& field) const {
    if (!v.is_boolean()) fail(field, "expected true or false, got " + describe(v));
    return v.get<bool>();
  }

  std::string string(const json& v, const std::string& field) const {
    if (!v.is_string()) fail(field, "expected a string, got " + describe(v));
    return v.get<std::string>();
  }

  ChannelAxis axis(const json& v, const std::string& field) const {
    const std::string s = string(v, field);
    if (s == "in") return ChannelAxis::kIn;
    if (s == "out") return ChannelAxis::kOut;
    fail(field, "unknown axis " + in_quotes(s) + " (expected in or out)");
  }

 private:
  std::string path_;
  std::string where_;
};

// AutoMixQ's protection strategies (section 3.2): 1 = top and low by activation, 2 = top by
// activation, 3 = top and low by weight, 4 = top by weight.
void apply_strategy(int strategy, ChannelClass& c) {
  c.select = (strategy == 1 || strategy == 3) ? ChannelSelect::kTopAndLow : ChannelSelect::kTop;
  c.by = strategy <= 2 ? ChannelStatistic::kActivation : ChannelStatistic::kWeight;
}

ChannelClass read_class(const json& v, const Reader& r, const std::string& field) {
  r.expect_object(v, field);
  r.check_keys(v, kClassKeys, field + ".");
  ChannelClass c;
  if (!v.contains("bits")) r.fail(field + ".bits", "missing (every class needs its bits)");
  c.bits = r.small_integer(v.at("bits"), field + ".bits");
  const bool has_select = v.contains("select"), has_by = v.contains("by");
  const bool has_fraction = v.contains("fraction"), has_indices = v.contains("indices");
  const bool has_strategy = v.contains("strategy");

  if (has_indices) {
    if (has_select || has_by || has_fraction || has_strategy)
      r.fail(field,
             "a class lists 'indices' or selects by 'select'/'strategy' with 'fraction', "
             "not both");
    const json& list = v.at("indices");
    if (!list.is_array()) r.fail(field + ".indices", "expected an array, got " + describe(list));
    c.select = ChannelSelect::kIndices;
    for (size_t i = 0; i < list.size(); ++i)
      c.indices.push_back(r.integer(list[i], field + ".indices[" + std::to_string(i) + "]"));
    return c;
  }
  if (has_strategy) {
    if (has_select || has_by)
      r.fail(field + ".strategy",
             "'strategy' already fixes 'select' and 'by'; give one or the other");
    const int strategy = r.small_integer(v.at("strategy"), field + ".strategy");
    if (strategy < 1 || strategy > 4)
      r.fail(field + ".strategy",
             "unknown strategy " + std::to_string(strategy) + " (AutoMixQ strategies are 1 to 4)");
    apply_strategy(strategy, c);
  } else {
    if (!has_select)
      r.fail(field,
             "a class needs 'select' (top, low, top_and_low) with 'fraction', "
             "'strategy' (1 to 4) with 'fraction', or 'indices'");
    const std::string select = r.string(v.at("select"), field + ".select");
    if (select == "top") {
      c.select = ChannelSelect::kTop;
    } else if (select == "low") {
      c.select = ChannelSelect::kLow;
    } else if (select == "top_and_low") {
      c.select = ChannelSelect::kTopAndLow;
    } else {
      r.fail(field + ".select",
             "unknown selection " + in_quotes(select) + " (expected top, low or top_and_low)");
    }
    if (has_by) {
      const std::string by = r.string(v.at("by"), field + ".by");
      if (by == "activation") {
        c.by = ChannelStatistic::kActivation;
      } else if (by == "weight") {
        c.by = ChannelStatistic::kWeight;
      } else {
        r.fail(field + ".by",
               "unknown statistic " + in_quotes(by) + " (expected activation or weight)");
      }
    }
  }
  if (!has_fraction) r.fail(field + ".fraction", "missing (a selecting class needs its fraction)");
  c.fraction = r.number(v.at("fraction"), field + ".fraction");
  return c;
}

// Applies the MODULE FIELDS of `obj` over `m`: a field that `obj` lacks keeps its value, also
// inside "channels" (axis, classes) and "outliers" (each fraction). `also_allowed` is "match"
// for rules.
void apply_fields(const json& obj, ModuleAllocation& m, const Reader& r,
                  const std::string& also_allowed = "") {
  r.check_keys(obj, kModuleKeys, "", also_allowed);
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    const json& v = item.value();
    if (key == "bits") {
      m.bits = r.small_integer(v, key);
    } else if (key == "group_size") {
      m.group_size = r.small_integer(v, key);
    } else if (key == "quantizer") {
      const std::string name = r.string(v, key);
      const auto kind = parse_quantizer(name);
      if (!kind)
        r.fail(key, "unknown quantizer " + in_quotes(name) +
                        " (expected rtn, gptq, hqq, awq or kmeans)");
      m.quantizer = *kind;
    } else if (key == "symmetric") {
      m.symmetric = r.boolean(v, key);
    } else if (key == "clip_search") {
      m.clip_search = r.boolean(v, key);
    } else if (key == "act_order") {
      m.act_order = r.boolean(v, key);
    } else if (key == "static_groups") {
      m.static_groups = r.boolean(v, key);
    } else if (key == "damp") {
      m.damp = r.number(v, key);
    } else if (key == "codebook_axis") {
      m.codebook_axis = r.axis(v, key);
    } else if (key == "channels") {
      r.expect_object(v, key);
      r.check_keys(v, kChannelsKeys, "channels.");
      if (v.contains("axis")) m.channels.axis = r.axis(v.at("axis"), "channels.axis");
      if (v.contains("classes")) {
        const json& list = v.at("classes");
        if (!list.is_array())
          r.fail("channels.classes", "expected an array, got " + describe(list));
        m.channels.classes.clear();
        for (size_t i = 0; i < list.size(); ++i)
          m.channels.classes.push_back(
              read_class(list[i], r, "channels.classes[" + std::to_string(i) + "]"));
      }
    } else if (key == "outliers") {
      r.expect_object(v, key);
      r.check_keys(v, kOutlierKeys, "outliers.");
      if (v.contains("activation_fraction"))
        m.outliers.activation_fraction =
            r.number(v.at("activation_fraction"), "outliers.activation_fraction");
      if (v.contains("quantization_fraction"))
        m.outliers.quantization_fraction =
            r.number(v.at("quantization_fraction"), "outliers.quantization_fraction");
    }
  }
}

// --- writing ------------------------------------------------------------------------------------

// The writers are templates over the JSON type: to_json() returns nlohmann::json (keys sorted),
// save() writes nlohmann::ordered_json so that the file reads in a natural order (header first,
// modules in the model's order, bits before the rest).
template <class J>
J class_json(const ChannelClass& c) {
  J j = J::object();
  j["bits"] = c.bits;
  if (c.select == ChannelSelect::kIndices) {
    j["indices"] = c.indices;
  } else {
    j["select"] = select_name(c.select);
    j["by"] = statistic_name(c.by);
    j["fraction"] = c.fraction;
  }
  return j;
}

// A module stored wholly in fp16 (bits 16, no channel classes): none of its other fields has
// an effect, so it is written as {"bits": 16} and read back as that.
bool wholly_fp16(const ModuleAllocation& m) { return !m.quantized() && m.channels.empty(); }

ModuleAllocation fp16_module() {
  ModuleAllocation m;
  m.bits = kUnquantizedBits;
  return m;
}

// {"bits": 16} for a wholly fp16 module; else bits, group_size and quantizer, and every other
// field only where it differs from the built-in defaults.
template <class J>
J module_json(const ModuleAllocation& m) {
  J j = J::object();
  j["bits"] = m.bits;
  if (wholly_fp16(m)) return j;
  const ModuleAllocation d;
  j["group_size"] = m.group_size;
  j["quantizer"] = quantizer_name(m.quantizer);
  if (m.symmetric != d.symmetric) j["symmetric"] = m.symmetric;
  if (m.clip_search != d.clip_search) j["clip_search"] = m.clip_search;
  if (m.act_order != d.act_order) j["act_order"] = m.act_order;
  if (m.static_groups != d.static_groups) j["static_groups"] = m.static_groups;
  if (m.damp != d.damp) j["damp"] = m.damp;
  if (m.codebook_axis != d.codebook_axis) j["codebook_axis"] = axis_name(m.codebook_axis);
  if (!m.channels.empty() || m.channels.axis != d.channels.axis) {
    J classes = J::array();
    for (const ChannelClass& c : m.channels.classes) classes.push_back(class_json<J>(c));
    J channels = J::object();
    channels["axis"] = axis_name(m.channels.axis);
    channels["classes"] = classes;
    j["channels"] = channels;
  }
  if (m.outliers.activation_fraction != 0.0 || m.outliers.quantization_fraction != 0.0) {
    J outliers = J::object();
    outliers["activation_fraction"] = m.outliers.activation_fraction;
    outliers["quantization_fraction"] = m.outliers.quantization_fraction;
    j["outliers"] = outliers;
  }
  return j;
}

template <class J>
J allocation_json(const Allocation& a, const std::vector<ModuleShape>& shapes) {
  J j = J::object();
  j["format"] = kFormat;
  j["version"] = kVersion;
  if (!a.name.empty()) j["name"] = a.name;
  if (!a.model.empty()) j["model"] = a.model;
  if (!a.comment.empty()) j["comment"] = a.comment;
  J modules = J::object();
  for (const ModuleShape& s : shapes) modules[s.name] = module_json<J>(a.module(s.name));
  j["modules"] = modules;
  return j;
}

}  // namespace

// --- names and predicates -----------------------------------------------------------------------

std::string normalize_module_name(const std::string& name) {
  return name.rfind("layers.", 0) == 0 ? "model." + name : name;
}

std::string quantizer_name(QuantizerKind kind) {
  for (const auto& [k, name] : kQuantizerNames)
    if (k == kind) return name;
  return "?";
}

std::optional<QuantizerKind> parse_quantizer(const std::string& name) {
  for (const auto& [k, n] : kQuantizerNames)
    if (name == n) return k;
  return std::nullopt;
}

bool quantizer_needs_calibration(QuantizerKind kind) {
  return kind == QuantizerKind::kGptq || kind == QuantizerKind::kAwq ||
         kind == QuantizerKind::kKmeans;
}

bool module_needs_calibration(const ModuleAllocation& m) {
  bool any_quantized = m.quantized();
  bool by_activation = false;
  for (const ChannelClass& c : m.channels.classes) {
    any_quantized = any_quantized || c.bits != kUnquantizedBits;
    by_activation = by_activation || (c.select != ChannelSelect::kIndices &&
                                      c.by == ChannelStatistic::kActivation && c.fraction > 0.0);
  }
  // A module that stores nothing quantized is copied as it is.
  if (!any_quantized) return false;
  return quantizer_needs_calibration(m.quantizer) || by_activation ||
         m.outliers.activation_fraction > 0.0;
}

// Classes compare by what they mean: an index class by its indices, a selecting class by its
// statistic and fraction (the fields the other kind ignores are not compared).
bool ModuleAllocation::operator==(const ModuleAllocation& o) const {
  if (bits != o.bits || group_size != o.group_size || quantizer != o.quantizer ||
      symmetric != o.symmetric || clip_search != o.clip_search || act_order != o.act_order ||
      static_groups != o.static_groups || damp != o.damp || codebook_axis != o.codebook_axis ||
      channels.axis != o.channels.axis || channels.classes.size() != o.channels.classes.size() ||
      outliers.activation_fraction != o.outliers.activation_fraction ||
      outliers.quantization_fraction != o.outliers.quantization_fraction)
    return false;
  for (size_t i = 0; i < channels.classes.size(); ++i) {
    const ChannelClass& a = channels.classes[i];
    const ChannelClass& b = o.channels.classes[i];
    if (a.bits != b.bits || a.select != b.select) return false;
    if (a.select == ChannelSelect::kIndices ? a.indices != b.indices
                                            : (a.by != b.by || a.fraction != b.fraction))
      return false;
  }
  return true;
}

// --- validation ---------------------------------------------------------------------------------

std::string check_module_allocation(const ModuleAllocation& m, const ModuleShape& shape) {
  auto problem = [](const std::string& text, const std::string& field) {
    return text + " (field '" + field + "')";
  };
  const std::string quantizer = quantizer_name(m.quantizer);
  const auto& classes = m.channels.classes;

  if (!valid_bits(m.bits))
    return problem("bits " + std::to_string(m.bits) + " not allowed (2 to 8, or 16 for fp16)",
                   "bits");
  bool any_quantized = m.quantized();
  for (const ChannelClass& c : classes) any_quantized = any_quantized || c.bits != kUnquantizedBits;

  if (m.group_size != kPerChannel && m.group_size <= 0)
    return problem(
        "group_size " + std::to_string(m.group_size) + " must be positive or -1 (per channel)",
        "group_size");
  // k-means ignores the group size; an fp16 module has no groups.
  if (any_quantized && m.quantizer != QuantizerKind::kKmeans && m.group_size > 0 &&
      shape.in_features % m.group_size != 0)
    return problem("group_size " + std::to_string(m.group_size) + " does not divide in_features " +
                       std::to_string(shape.in_features),
                   "group_size");
  if (!(m.damp >= 0.0 && m.damp <= 1.0))
    return problem("damp " + number_string(m.damp) + " outside [0, 1]", "damp");
  if (m.act_order && m.quantizer != QuantizerKind::kGptq)
    return problem("act_order needs quantizer gptq, not " + quantizer, "act_order");
  if (m.static_groups && m.quantizer != QuantizerKind::kGptq)
    return problem("static_groups needs quantizer gptq, not " + quantizer, "static_groups");
  if (m.symmetric && m.quantizer != QuantizerKind::kRtn && m.quantizer != QuantizerKind::kGptq)
    return problem("symmetric is not supported by quantizer " + quantizer + " (only rtn and gptq)",
                   "symmetric");
  if (m.clip_search && m.quantizer != QuantizerKind::kRtn && m.quantizer != QuantizerKind::kGptq)
    return problem(
        "clip_search is not supported by quantizer " + quantizer + " (only rtn and gptq)",
        "clip_search");

  const double fractions[2] = {m.outliers.activation_fraction, m.outliers.quantization_fraction};
  const char* fraction_fields[2] = {"outliers.activation_fraction",
                                    "outliers.quantization_fraction"};
  for (int i = 0; i < 2; ++i)
    if (!(fractions[i] >= 0.0 && fractions[i] < 1.0))
      return problem(
          std::string(fraction_fields[i]) + " " + number_string(fractions[i]) + " outside [0, 1)",
          fraction_fields[i]);

  const bool axis_in = m.channels.axis == ChannelAxis::kIn;
  const int64_t n_axis = axis_in ? shape.in_features : shape.out_features;
  std::map<int64_t, size_t> listed;  // channel index -> the class that lists it
  for (size_t i = 0; i < classes.size(); ++i) {
    const ChannelClass& c = classes[i];
    const std::string field = "channels.classes[" + std::to_string(i) + "]";
    if (!valid_bits(c.bits))
      return problem(
          "class bits " + std::to_string(c.bits) + " not allowed (2 to 8, or 16 for fp16)",
          field + ".bits");
    if (c.select == ChannelSelect::kIndices) {
      for (int64_t index : c.indices) {
        if (index < 0 || index >= n_axis)
          return problem("channel index " + std::to_string(index) + " out of range [0, " +
                             std::to_string(n_axis) + ") on axis " + axis_name(m.channels.axis) +
                             " (" + (axis_in ? "in_features " : "out_features ") +
                             std::to_string(n_axis) + ")",
                         field + ".indices");
        const auto [it, inserted] = listed.emplace(index, i);
        if (!inserted)
          return problem("channel index " + std::to_string(index) + " repeated (also in " +
                             "channels.classes[" + std::to_string(it->second) + "])",
                         field + ".indices");
      }
    } else if (!(c.fraction >= 0.0 && c.fraction <= 1.0)) {
      return problem("fraction " + number_string(c.fraction) + " outside [0, 1]",
                     field + ".fraction");
    }
  }
  if (m.quantizer == QuantizerKind::kKmeans && !classes.empty() &&
      m.channels.axis != m.codebook_axis)
    return problem(std::string("channel classes on axis ") + axis_name(m.channels.axis) +
                       " but codebook_axis " + axis_name(m.codebook_axis) +
                       " (k-means classes must run along the codebook axis)",
                   "channels.axis");
  // The activation-outlier columns are chosen among the columns no index class lists.
  if (any_quantized) {
    const int64_t k =
        std::llround(m.outliers.activation_fraction * static_cast<double>(shape.in_features));
    const int64_t listed_columns = axis_in ? static_cast<int64_t>(listed.size()) : 0;
    if (k + listed_columns > shape.in_features)
      return problem("activation outliers (" + std::to_string(k) + " columns) and the columns " +
                         "listed by classes (" + std::to_string(listed_columns) +
                         ") exceed in_features " + std::to_string(shape.in_features),
                     "outliers.activation_fraction");
  }
  return "";
}

void Allocation::validate(const std::vector<ModuleShape>& shapes,
                          const std::string& path_for_errors) const {
  std::set<std::string> known;
  for (const ModuleShape& s : shapes) known.insert(s.name);
  for (const auto& entry : modules)
    if (!known.count(entry.first))
      throw InputError(path_for_errors, "unknown module " + in_quotes(entry.first) + " (" +
                                            model_size_text(shapes) + ")");
  for (const ModuleShape& s : shapes) {
    const std::string problem = check_module_allocation(module(s.name), s);
    if (!problem.empty()) throw InputError(path_for_errors, "module " + s.name + ": " + problem);
  }
}

// --- Allocation ---------------------------------------------------------------------------------

ModuleAllocation cmpq_module_allocation(double budget) {
  if (!(budget >= 2.0 && budget <= 4.0))
    throw InputError("", "CMPQ budget must be between 2 and 4 bits, got " + std::to_string(budget));
  ModuleAllocation m;
  m.bits = 3;
  m.quantizer = QuantizerKind::kKmeans;
  m.group_size = kPerChannel;
  m.codebook_axis = ChannelAxis::kIn;
  m.channels.axis = ChannelAxis::kIn;
  auto cls = [](int bits, ChannelSelect select, double fraction) {
    ChannelClass c;
    c.bits = bits;
    c.select = select;
    c.by = ChannelStatistic::kActivation;
    c.fraction = fraction;
    return c;
  };
  if (budget > 3.0) {
    m.channels.classes.push_back(cls(4, ChannelSelect::kTop, budget - 3.0));
  } else if (budget < 3.0) {
    m.channels.classes.push_back(cls(2, ChannelSelect::kLow, 3.0 - budget));
  } else {
    m.channels.classes.push_back(cls(4, ChannelSelect::kTop, 0.01));
    m.channels.classes.push_back(cls(2, ChannelSelect::kLow, 0.01));
  }
  m.outliers.activation_fraction = 0.0045;
  m.outliers.quantization_fraction = 0.0005;
  return m;
}

Allocation Allocation::uniform(const std::vector<ModuleShape>& shapes, const ModuleAllocation& m) {
  Allocation a;
  for (const ModuleShape& s : shapes) a.modules[s.name] = m;
  return a;
}

ModuleAllocation Allocation::module(const std::string& name) const {
  auto it = modules.find(name);
  if (it == modules.end()) it = modules.find(normalize_module_name(name));
  if (it != modules.end()) return it->second;
  if (default_module) return *default_module;
  return fp16_module();
}

Allocation Allocation::from_json(const json& j, const std::vector<ModuleShape>& shapes,
                                 const std::string& path_for_errors) {
  const std::string& path = path_for_errors;
  if (!j.is_object()) throw InputError(path, "expected a JSON object, got " + describe(j));
  const Reader top(path, "");
  top.check_keys(j, kTopKeys, "");

  if (!j.contains("format"))
    top.fail("format", std::string("missing (expected \"") + kFormat + "\")");
  const std::string format = top.string(j.at("format"), "format");
  if (format != kFormat)
    top.fail("format", "not a Bitscape allocation: format " + in_quotes(format) + ", expected '" +
                           kFormat + "'");
  if (!j.contains("version")) top.fail("version", "missing (expected 1)");
  const int64_t version = top.integer(j.at("version"), "version");
  if (version > kVersion)
    top.fail("version", "version " + std::to_string(version) +
                            " is newer than this Bitscape reads (up to " +
                            std::to_string(kVersion) + "); update Bitscape");
  if (version < 1) top.fail("version", "invalid version " + std::to_string(version));

  Allocation a;
  if (j.contains("name")) a.name = top.string(j.at("name"), "name");
  if (j.contains("model")) a.model = top.string(j.at("model"), "model");
  if (j.contains("comment")) a.comment = top.string(j.at("comment"), "comment");

  ModuleAllocation base;
  const bool has_default = j.contains("default");
  if (has_default) {
    top.expect_object(j.at("default"), "default");
    apply_fields(j.at("default"), base, Reader(path, "default"));
    a.default_module = wholly_fp16(base) ? fp16_module() : base;
  }

  // Rules: each checked once (fields, and that its glob matches a module of the model).
  struct Rule {
    const json* fields;
    std::string pattern;
    Reader reader;
  };
  std::vector<Rule> rules;
  if (j.contains("rules")) {
    const json& list = j.at("rules");
    if (!list.is_array()) top.fail("rules", "expected an array, got " + describe(list));
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "rules[" + std::to_string(i) + "]";
      const Reader r(path, where);
      r.expect_object(list[i], where);
      if (!list[i].contains("match")) r.fail("match", "missing (a rule needs a glob to match)");
      const std::string pattern = normalize_module_name(r.string(list[i].at("match"), "match"));
      ModuleAllocation scratch = base;
      apply_fields(list[i], scratch, r, "match");
      bool matches = false;
      for (const ModuleShape& s : shapes) matches = matches || glob_match(pattern, s.name);
      if (!matches)
        r.fail("match", "pattern " + in_quotes(pattern) + " matches no module (" +
                            model_size_text(shapes) + ")");
      rules.push_back({&list[i], pattern, r});
    }
  }

  // Explicit module entries, by normalised name.
  std::map<std::string, std::pair<const json*, std::string>> entries;
  if (j.contains("modules")) {
    const json& obj = j.at("modules");
    top.expect_object(obj, "modules");
    std::set<std::string> known;
    for (const ModuleShape& s : shapes) known.insert(s.name);
    for (const auto& item : obj.items()) {
      const std::string name = normalize_module_name(item.key());
      if (!known.count(name))
        top.fail("modules",
                 "unknown module " + in_quotes(item.key()) + " (" + model_size_text(shapes) + ")");
      if (entries.count(name))
        top.fail("modules", "module " + name + " listed twice (as " +
                                in_quotes(entries.at(name).second) + " and " +
                                in_quotes(item.key()) + ")");
      const Reader r(path, "module " + name);
      r.expect_object(item.value(), "modules." + item.key());
      entries[name] = {&item.value(), item.key()};
    }
  }

  // Resolution: built-in defaults <- "default" <- matching rules in order <- "modules" entry.
  for (const ModuleShape& s : shapes) {
    ModuleAllocation m = base;
    bool matched = false;
    for (const Rule& rule : rules) {
      if (!glob_match(rule.pattern, s.name)) continue;
      apply_fields(*rule.fields, m, rule.reader, "match");
      matched = true;
    }
    const auto entry = entries.find(s.name);
    if (entry != entries.end()) {
      apply_fields(*entry->second.first, m, Reader(path, "module " + s.name));
      matched = true;
    }
    if (matched) a.modules[s.name] = wholly_fp16(m) ? fp16_module() : m;
    // unmatched: the default, or fp16 without one
  }
  a.validate(shapes, path);
  return a;
}

Allocation Allocation::load(const std::string& path, const std::vector<ModuleShape>& shapes) {
  namespace fs = std::filesystem;
  // Allocations with channel index lists of a 70B model stay well below this.
  const json j = parse_json(read_file_limited(path, 256u << 20, "allocation file"), path);
  return from_json(j, shapes, path);
}

json Allocation::to_json(const std::vector<ModuleShape>& shapes) const {
  return allocation_json<json>(*this, shapes);
}

void Allocation::save(const std::string& path, const std::vector<ModuleShape>& shapes) const {
  namespace fs = std::filesystem;
  validate(shapes, path);  // a saved allocation always loads again
  const std::string text = allocation_json<nlohmann::ordered_json>(*this, shapes)
                               .dump(2, ' ', false, json::error_handler_t::replace) +
                           "\n";

  write_file_atomically(path, text, "allocation file");
}

}  // namespace bitscape
