// Search runs in the project file (search_store.h).
#include "bitscape/search_store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "bitscape/error.h"

namespace bitscape {

namespace {

// A point's method as stored (/search/<run>/points/method): codes of the file format, so a
// method added to the registry (search_methods.cpp) is appended here, never inserted.
const char* const kMethods[] = {"uniform", "dp", "amq", "automixq", "cmpq"};
constexpr int64_t kMethodCount = sizeof kMethods / sizeof kMethods[0];

int64_t method_code(const std::string& m) {
  for (int64_t i = 0; i < kMethodCount; ++i)
    if (m == kMethods[i]) return i;
  throw std::logic_error("search points of method '" + m + "' have no code in the project format");
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "\n" : "") + v[i];
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

void write_search_run(ProjectWriter& w, const SearchRunRecord& r) {
  const std::string p = "/search/" + r.name;
  w.remove(p);
  w.set_attribute(p, "method", r.method);
  w.set_attribute(p, "status", r.status);
  w.set_attribute(p, "created", r.created);
  w.set_attribute(p, "settings", r.settings_json);
  w.set_attribute(p, "eval_data", r.eval_data);
  w.set_attribute(p, "eval_windows", r.eval_windows);
  w.set_attribute(p, "seqlen", r.seqlen);
  w.set_attribute(p, "completed_iterations", r.completed_iterations);
  w.set_attribute(p, "baseline_ppl", r.baseline_ppl);
  w.set_attribute(p, "seconds", r.seconds);
  w.set_attribute(p, "log", join_lines(r.log));
  if (!r.pinned.empty())
    w.write_int64s(p + "/pinned", std::vector<int64_t>(r.pinned.begin(), r.pinned.end()),
                   {static_cast<int64_t>(r.pinned.size())});
  const int64_t n = static_cast<int64_t>(r.points.size());
  size_t G = 0;
  for (const SearchPoint& s : r.points) G = std::max(G, s.genes.size());
  std::vector<double> bits, code, ppl, kl, jsd, top1, loss, predicted, seconds;
  std::vector<int64_t> index, iteration, bytes, method, genes;
  for (const SearchPoint& s : r.points) {
    bits.push_back(s.average_bits);
    code.push_back(s.code_bits);
    ppl.push_back(s.ppl);
    kl.push_back(s.kl);
    jsd.push_back(s.jsd);
    top1.push_back(s.top1);
    loss.push_back(s.loss);
    predicted.push_back(s.predicted);
    seconds.push_back(s.seconds);
    index.push_back(s.index);
    iteration.push_back(s.iteration);
    bytes.push_back(s.total_bytes);
    method.push_back(method_code(s.method));
    for (size_t g = 0; g < G; ++g) genes.push_back(g < s.genes.size() ? s.genes[g] : -1);
  }
  const std::string q = p + "/points/";
  w.write_doubles(q + "average_bits", bits, {n});
  w.write_doubles(q + "code_bits", code, {n});
  w.write_doubles(q + "ppl", ppl, {n});
  w.write_doubles(q + "kl", kl, {n});
  w.write_doubles(q + "jsd", jsd, {n});
  w.write_doubles(q + "top1", top1, {n});
  w.write_doubles(q + "loss", loss, {n});
  w.write_doubles(q + "predicted", predicted, {n});
  w.write_doubles(q + "seconds", seconds, {n});
  w.write_int64s(q + "index", index, {n});
  w.write_int64s(q + "iteration", iteration, {n});
  w.write_int64s(q + "total_bytes", bytes, {n});
  w.write_int64s(q + "method", method, {n});
  w.write_int64s(q + "genes", genes, {n, static_cast<int64_t>(G)});
}

std::vector<std::string> search_runs(const ProjectReader& r) {
  return runs_in_order(r, "/search");
}

SearchRunRecord read_search_run(const ProjectReader& r, const std::string& run) {
  const std::string p = "/search/" + run;
  if (!r.exists(p)) throw InputError(r.path(), "has no search run '" + run + "'");
  auto str = [&](const char* n) { return r.string_attribute(p, n).value_or(""); };
  auto num = [&](const char* n) { return r.number_attribute(p, n).value_or(std::nan("")); };
  SearchRunRecord s;
  s.name = run;
  s.method = str("method");
  s.status = str("status");
  s.created = str("created");
  s.settings_json = str("settings");
  s.eval_data = str("eval_data");
  s.eval_windows = r.integer_attribute(p, "eval_windows", 0, int64_t(1) << 24, 0);
  s.seqlen = r.integer_attribute(p, "seqlen", 0, int64_t(1) << 24, 0);
  s.completed_iterations = r.integer_attribute(p, "completed_iterations", 0, int64_t(1) << 31, 0);
  s.baseline_ppl = num("baseline_ppl");
  s.seconds = num("seconds");
  s.log = split_lines(str("log"));
  if (r.exists(p + "/pinned"))
    for (int64_t v : r.read_int64s(p + "/pinned")) {
      // Per module: the option it is pinned to, or -1.
      if (v < -1 || v > (int64_t(1) << 20))
        throw InputError(r.path(), "search run '" + run + "': a pinned option is out of range");
      s.pinned.push_back(static_cast<int>(v));
    }
  const std::string q = p + "/points/";
  if (!r.exists(q + "index")) return s;
  const auto bits = r.read_doubles(q + "average_bits"), code = r.read_doubles(q + "code_bits"),
             ppl = r.read_doubles(q + "ppl"), kl = r.read_doubles(q + "kl"), jsd = r.read_doubles(q + "jsd"),
             top1 = r.read_doubles(q + "top1"), loss = r.read_doubles(q + "loss"),
             predicted = r.read_doubles(q + "predicted"), seconds = r.read_doubles(q + "seconds");
  const auto index = r.read_int64s(q + "index"), iteration = r.read_int64s(q + "iteration"),
             bytes = r.read_int64s(q + "total_bytes"), method = r.read_int64s(q + "method");
  std::vector<int64_t> shape;
  const auto genes = r.read_int64s(q + "genes", &shape);
  const size_t n = index.size();
  auto damaged = [&](const std::string& what) {
    return InputError(r.path(), "search run '" + run + "' is damaged: " + what);
  };
  for (const auto* v : {&bits, &code, &ppl, &kl, &jsd, &top1, &loss, &predicted, &seconds})
    if (v->size() != n) throw damaged("its point datasets differ in length");
  for (const auto* v : {&iteration, &bytes, &method})
    if (v->size() != n) throw damaged("its point datasets differ in length");
  if (!genes.empty() && (shape.size() != 2 || static_cast<size_t>(shape[0]) != n))
    throw damaged("'genes' is not a [points, modules] table");
  const size_t G = shape.size() == 2 ? static_cast<size_t>(shape[1]) : 0;
  for (size_t i = 0; i < n; ++i) {
    SearchPoint x;
    x.index = index[i];
    if (iteration[i] < -1 || iteration[i] > (int64_t(1) << 31) - 1)
      throw damaged("an iteration number is out of range");
    if (!std::isfinite(bits[i]) || bits[i] < 0 || bits[i] > 64)
      throw damaged("a point has average bits " + std::to_string(bits[i]));
    x.iteration = static_cast<int>(iteration[i]);
    x.method = method[i] >= 0 && method[i] < kMethodCount ? kMethods[method[i]] : "?";
    x.average_bits = bits[i];
    x.code_bits = code[i];
    x.total_bytes = bytes[i];
    x.ppl = ppl[i];
    x.kl = kl[i];
    x.jsd = jsd[i];
    x.top1 = top1[i];
    x.loss = loss[i];
    x.predicted = predicted[i];
    x.seconds = seconds[i];
    for (size_t g = 0; g < G; ++g) {
      const int64_t v = genes[i * G + g];
      if (v > (int64_t(1) << 20)) throw damaged("a gene is out of range");
      if (v >= 0) x.genes.push_back(static_cast<int>(v));
    }
    s.points.push_back(x);
  }
  return s;
}

std::vector<std::string> edit_records(const ProjectReader& r) {
  if (!r.exists("/edits")) return {};
  return r.children("/edits");  // zero-padded names sort in order
}

std::string next_edit_name(const ProjectReader& r) {
  const std::vector<std::string> names = edit_records(r);
  int last = 0;
  for (const std::string& n : names)
    if (n.size() > 4 && n.compare(0, 4, "edit") == 0) last = std::max(last, std::atoi(n.c_str() + 4));
  char buf[32];
  std::snprintf(buf, sizeof buf, "edit%04d", last + 1);
  return buf;
}

void write_edit(ProjectWriter& w, const EditRecord& e) {
  const std::string p = "/edits/" + e.name;
  w.remove(p);
  w.set_attribute(p, "created", e.created);
  w.set_attribute(p, "label", e.label);
  w.set_attribute(p, "point", search_point_json(e.point));
  w.write_strings(p + "/allocation", {e.allocation_json});
}

EditRecord read_edit(const ProjectReader& r, const std::string& name) {
  const std::string p = "/edits/" + name;
  if (!r.exists(p)) throw InputError(r.path(), "has no edited allocation '" + name + "'");
  EditRecord e;
  e.name = name;
  e.created = r.string_attribute(p, "created").value_or("");
  e.label = r.string_attribute(p, "label").value_or("");
  const std::optional<std::string> point = r.string_attribute(p, "point");
  if (!point) throw InputError(r.path(), "edited allocation '" + name + "' has no point");
  e.point = search_point_from_json(*point);
  const std::vector<std::string> a = r.read_strings(p + "/allocation");
  if (a.size() != 1) throw InputError(r.path(), "edited allocation '" + name + "' has no allocation");
  e.allocation_json = a[0];
  return e;
}

}  // namespace bitscape
