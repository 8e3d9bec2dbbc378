// Perplexity evaluations kept in a project (evaluation_store.h).
#include "bitscape/evaluation_store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/json_input.h"

namespace bitscape {

namespace {

std::string text_from(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

int64_t count_from(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_number(double x, const char* format) {
  if (!std::isfinite(x)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

}  // namespace

std::vector<std::string> evaluation_records(const ProjectReader& r) {
  if (!r.exists("/evaluations")) return {};
  return r.children("/evaluations");  // zero-padded names sort in order
}

std::string next_evaluation_name(const ProjectReader& r) {
  int last = 0;
  for (const std::string& n : evaluation_records(r))
    if (n.size() > 4 && n.compare(0, 4, "eval") == 0) last = std::max(last, std::atoi(n.c_str() + 4));
  char buf[32];
  std::snprintf(buf, sizeof buf, "eval%04d", last + 1);
  return buf;
}

void write_evaluation(ProjectWriter& w, const EvaluationRecord& e) {
  const std::string p = "/evaluations/" + e.name;
  const nlohmann::json record = {
      {"subject", e.subject},   {"allocation_name", e.allocation_name},
      {"average_bits", json_number_or_null(e.average_bits)},
      {"data", e.data},         {"windows", e.windows},   {"seqlen", e.seqlen},
      {"device", e.device},     {"dtype", e.dtype},       {"ppl", json_number_or_null(e.ppl)},
      {"nll", json_number_or_null(e.nll)}, {"seconds", e.seconds},
      {"hidden", e.hidden},     {"pinned", e.pinned}};
  w.remove(p);
  w.set_attribute(p, "created", e.created);
  w.set_attribute(p, "label", e.label);
  w.set_attribute(p, "record", record.dump());
  if (!e.allocation_json.empty()) w.write_strings(p + "/allocation", {e.allocation_json});
}

EvaluationRecord read_evaluation(const ProjectReader& r, const std::string& name) {
  const std::string p = "/evaluations/" + name;
  if (!r.exists(p)) throw InputError(r.path(), "has no evaluation '" + name + "'");
  EvaluationRecord e;
  e.name = name;
  e.created = r.string_attribute(p, "created").value_or("");
  e.label = r.string_attribute(p, "label").value_or("");
  const std::optional<std::string> text = r.string_attribute(p, "record");
  if (!text) throw InputError(r.path(), "evaluation '" + name + "' has no record");
  const nlohmann::json j = parse_json(*text, r.path(), "evaluation '" + name + "'");
  if (!j.is_object()) throw InputError(r.path(), "evaluation '" + name + "': the record is not an object");
  e.subject = text_from(j, "subject");
  if (e.subject != "unquantized" && e.subject != "allocation")
    throw InputError(r.path(), "evaluation '" + name + "': subject " + quote_for_message(e.subject) +
                                   " (unquantized or allocation)");
  e.allocation_name = text_from(j, "allocation_name");
  e.average_bits = json_number(j, "average_bits");
  e.data = text_from(j, "data");
  e.windows = count_from(j, "windows");
  e.seqlen = count_from(j, "seqlen");
  e.device = text_from(j, "device");
  e.dtype = text_from(j, "dtype");
  e.ppl = json_number(j, "ppl");
  e.nll = json_number(j, "nll");
  e.seconds = json_number(j, "seconds");
  if (!std::isfinite(e.seconds)) e.seconds = 0;
  e.hidden = j.contains("hidden") && j["hidden"].is_boolean() && j["hidden"].get<bool>();
  e.pinned = j.contains("pinned") && j["pinned"].is_boolean() && j["pinned"].get<bool>();
  if (e.subject == "allocation") {
    if (!r.exists(p + "/allocation")) throw InputError(r.path(), "evaluation '" + name + "' has no allocation");
    const std::vector<std::string> a = r.read_strings(p + "/allocation");
    if (a.size() != 1) throw InputError(r.path(), "evaluation '" + name + "' has no allocation");
    e.allocation_json = a[0];
  }
  return e;
}

std::string evaluations_csv(const std::vector<EvaluationRecord>& records) {
  std::ostringstream out;
  out << "name,label,subject,average_bits,data,windows,seqlen,device,dtype,perplexity,nll,seconds,created,pinned,hidden\n";
  for (const EvaluationRecord& e : records)
    out << csv_field(e.name) << ',' << csv_field(e.label) << ',' << e.subject << ','
        << csv_number(e.average_bits, "%.4f") << ',' << csv_field(e.data) << ',' << e.windows << ','
        << e.seqlen << ',' << csv_field(e.device) << ',' << csv_field(e.dtype) << ','
        << csv_number(e.ppl, "%.6f") << ',' << csv_number(e.nll, "%.6f") << ','
        << csv_number(e.seconds, "%.2f") << ',' << csv_field(e.created) << ',' << (e.pinned ? 1 : 0) << ','
        << (e.hidden ? 1 : 0) << '\n';
  return out.str();
}

}  // namespace bitscape
