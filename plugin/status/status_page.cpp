#include "status/status_page.hpp"

#include <openssl/evp.h>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <numbers>
#include <stdexcept>

#include "codec/base64.hpp"
#include "engine/engine.hpp"
#include "engine/network.hpp"
#include "engine/store_context.hpp"
#include "graph/relationship_graph.hpp"
#include "log/log.hpp"
#include "status/password.hpp"
#include "status/status_report.hpp"
#include "store/open_store.hpp"
#include "store/soci_util.hpp"

namespace rapport::status {
namespace json = boost::json;

namespace {

using Steady = std::chrono::steady_clock;

std::string esc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

std::string text_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? text(*v) : "";
}

// A number cell the browser test reads back: data-status names where it is in
// `rapport status --json`.
std::string number(const std::string& key, const json::value& v) {
  return "<td class=\"n\" data-status=\"" + esc(key) + "\">" + esc(text(v)) + "</td>";
}

std::string sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view header) {
  constexpr std::string_view scheme = "Basic ";
  if (header.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return std::nullopt;
    }
  }
  std::string encoded(header.substr(scheme.size()));
  while (!encoded.empty() && encoded.front() == ' ') encoded.erase(0, 1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.pop_back();
  if (encoded.empty() || encoded.size() > 4096) return std::nullopt;
  auto decoded = base64_decode(encoded);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

constexpr const char* kStyle = R"(
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#23395d;color:#fff;padding:.8em 1.5em;display:flex;gap:2em;align-items:center;flex-wrap:wrap}
header h1{font-size:1.25em;margin:0}header a{color:#fff}
header form{margin-left:auto}header input{padding:.25em;width:10em}
main{padding:1em 1.5em;max-width:76em}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.6em 1em;margin:0 0 1em}
h2{font-size:1.05em;margin:.3em 0 .6em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-weight:600;color:#4a5366}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:.8em;flex-wrap:wrap;margin-bottom:1em}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.5em 1em;min-width:8em}
.card b{display:block;font-size:1.5em}
.up{color:#1a7f37}.down{color:#b42318;font-weight:600}.warn{color:#b54708}
.muted{color:#6b7280}footer{padding:0 1.5em 1.5em;color:#6b7280;font-size:.85em}
code{font-size:.9em}svg{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em;vertical-align:middle}
)";

const std::map<std::string, const char*>& role_colours() {
  static const std::map<std::string, const char*> colours{
      {"attending", "#2f6fb3"}, {"resident", "#5aa0d8"},   {"fellow", "#7b61c4"},
      {"nurse", "#2e9e6a"},     {"pharmacist", "#d08a1e"}, {"social_worker", "#c4527a"},
      {"student", "#6b7280"},   {"other", "#8a8f98"}};
  return colours;
}

const char* colour_of(const std::string& role) {
  auto it = role_colours().find(role);
  return it == role_colours().end() ? "#8a8f98" : it->second;
}

std::string page(const std::string& title, const std::string& account, const std::string& body) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
         "<title>" +
         esc(title) + "</title><style>" + kStyle +
         "</style></head><body><header><h1><a href=\"/status\">Rapport status</a></h1>"
         "<form action=\"/status/student\" method=\"get\"><label>Student id "
         "<input name=\"id\" required></label> <button>Show network</button></form></header>"
         "<main>" +
         body + "</main><footer>Signed in as " + esc(account) + " · read-only · generated " +
         esc(format_time(wall_clock())) + "</footer></body></html>\n";
}

PageReply html(int status, std::string body) {
  PageReply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = {
      {"Cache-Control", "no-store"},
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return reply;
}

PageReply plain_error(int status, const std::string& title, const std::string& message) {
  return html(status, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                          esc(title) + "</title></head><body><h1>" + esc(title) + "</h1><p>" +
                          esc(message) + "</p></body></html>\n");
}

// The overview: the numbers of `rapport status --json`, each cell tagged with its place.
// `polled`: each source's last poll by this process, where known.
std::string overview(const json::object& st, const std::map<std::string, std::string>& polled) {
  std::string out;
  auto card = [&](const char* label, const std::string& key, const json::value& v) {
    out += "<div class=\"card\">" + std::string(label) + "<b data-status=\"" + esc(key) + "\">" +
           esc(text(v)) + "</b></div>";
  };
  const auto& expired = st.at("expired").as_object();
  out += "<div class=\"cards\">";
  card("Inbox events", "inbox_events", st.at("inbox_events"));
  card("Outbox actions", "outbox_actions", st.at("outbox_actions"));
  card("Timers pending", "timers_pending", st.at("timers_pending"));
  card("Held actions", "held_actions", st.at("held_actions"));
  card("Expired before made", "expired.before_made", expired.at("before_made"));
  card("Expired while held", "expired.while_held", expired.at("while_held"));
  card("Expired before delivery", "expired.before_delivery", expired.at("before_delivery"));
  card("Withdrawn", "withdrawn", st.at("withdrawn"));
  if (const auto* p = st.if_contains("prompts")) {
    card("Prompts sent", "prompts.sent", p->at("sent"));
    card("Prompts deferred", "prompts.deferred", p->at("deferred"));
    card("Prompts dropped", "prompts.dropped", p->at("dropped"));
  }
  out += "</div>";

  out +=
      "<section><h2>Sources</h2><table><tr><th>source</th><th>type</th><th>state</th>"
      "<th>since</th><th>last poll</th><th>cursors</th></tr>";
  for (const auto& s : st.at("sources").as_array()) {
    const auto& o = s.as_object();
    std::string name = text_at(o, "name");
    bool up = o.at("up").as_bool();
    std::string cursors;
    for (const auto& [entity, value] : o.at("cursors").as_object()) {
      cursors += "<div><code>" + esc(entity) + "</code> " + esc(text(value)) + "</div>";
    }
    out += "<tr><td>" + esc(name) + "</td><td>" + esc(text_at(o, "type")) +
           "</td><td data-status=\"sources." + esc(name) + ".up\" data-value=\"" +
           (up ? "true" : "false") + "\" class=\"" + (up ? "up\">up" : "down\">DOWN") +
           (up ? "" : ": " + esc(text_at(o, "message"))) + "</td><td>" + esc(text_at(o, "since")) +
           "</td><td>" +
           (polled.count(name) ? esc(polled.at(name))
                               : std::string("<span class=\"muted\">not by this process</span>")) +
           "</td><td>" + (cursors.empty() ? "<span class=\"muted\">none</span>" : cursors) +
           "</td></tr>";
  }
  out += "</table></section>";

  // Reports by consumer and kind, for the hooks' and sinks' rows.
  std::map<std::string, std::map<std::string, const json::object*>> reports;
  for (const auto& r : st.at("reports").as_array()) {
    reports[text_at(r.as_object(), "consumer")][text_at(r.as_object(), "kind")] = &r.as_object();
  }
  auto report_cell = [&](const std::string& consumer, const char* kind) {
    auto c = reports.find(consumer);
    const json::object* r = nullptr;
    if (c != reports.end() && c->second.count(kind)) r = c->second.at(kind);
    if (!r) return std::string("<td class=\"n muted\">0</td>");
    return number("reports." + consumer + "." + kind + ".count", r->at("count"));
  };
  out +=
      "<section><h2>Hooks</h2><p class=\"muted\">\"at\" is the sequence number of the last "
      "inbox event done; \"behind\" counts what is still to do.</p><table><tr><th>hook</th>"
      "<th>at</th><th>behind</th><th>errors</th><th>retries</th><th>slow runs</th></tr>";
  for (const auto& c : st.at("consumers").as_array()) {
    const auto& o = c.as_object();
    std::string kind = text_at(o, "kind"), name = text_at(o, "name");
    if (kind == "sink") continue;
    std::string key = "consumers." + kind + "." + name;
    out += "<tr><td>" + esc(kind == "mirror" ? "mirror (the store's picture)" : name) + "</td>" +
           number(key + ".at", o.at("at")) + number(key + ".behind", o.at("behind")) +
           report_cell(name, "error") + report_cell(name, "retry") + report_cell(name, "slow") +
           "</tr>";
  }
  out += "</table></section>";

  out +=
      "<section><h2>Sinks</h2><table><tr><th>sink</th><th>at</th><th>behind</th>"
      "<th>deliveries by state</th><th>endpoint</th></tr>";
  for (const auto& c : st.at("consumers").as_array()) {
    const auto& o = c.as_object();
    if (text_at(o, "kind") != "sink") continue;
    std::string name = text_at(o, "name"), key = "consumers.sink." + name;
    std::string deliveries;
    if (const auto* d = o.if_contains("deliveries")) {
      for (const auto& [state, n] : d->as_object()) {
        std::string cls = state == "dead" ? " class=\"warn\"" : "";
        deliveries += "<span" + cls + ">" + esc(state) + " <b data-status=\"" + esc(key) +
                      ".deliveries." + esc(state) + "\">" + esc(text(n)) + "</b></span> ";
      }
    }
    std::string endpoint =
        o.contains("disabled")
            ? "<span class=\"down\">DISABLED: " + esc(text_at(o, "disabled")) + "</span>"
            : "<span class=\"up\">enabled</span>";
    out += "<tr><td>" + esc(name) + "</td>" + number(key + ".at", o.at("at")) +
           number(key + ".behind", o.at("behind")) + "<td>" +
           (deliveries.empty() ? "<span class=\"muted\">sent in batches</span>" : deliveries) +
           "</td><td>" + endpoint + "</td></tr>";
  }
  out += "</table></section>";

  std::vector<const json::object*> recent;
  for (const auto& r : st.at("reports").as_array()) recent.push_back(&r.as_object());
  std::sort(recent.begin(), recent.end(), [](const json::object* a, const json::object* b) {
    return text_at(*a, "last_at") > text_at(*b, "last_at");
  });
  out += "<section><h2>Recent reports and notices</h2>";
  if (recent.empty()) out += "<p class=\"muted\">No failures, retries, slow runs or notices.</p>";
  if (!recent.empty()) {
    out +=
        "<table><tr><th>last at</th><th>from</th><th>kind</th><th>count</th>"
        "<th>last message</th></tr>";
  }
  for (const auto* r : recent) {
    std::string consumer = text_at(*r, "consumer"), kind = text_at(*r, "kind");
    out += "<tr><td>" + esc(text_at(*r, "last_at")) + "</td><td>" + esc(consumer) + "</td><td>" +
           esc(kind) + "</td>" +
           number("reports." + consumer + "." + kind + ".count", r->at("count")) + "<td>" +
           esc(text_at(*r, "last_message")) + "</td></tr>";
  }
  if (!recent.empty()) out += "</table>";
  out += "</section>";
  return out;
}

// A student's contacts around them, grouped by role (the colour): the nearer and the
// larger, the more days together. `contacts` comes most days first.
std::string picture(const std::string& student_label, const json::array& contacts,
                    std::size_t drawn) {
  constexpr double width = 860, height = 720, cx = width / 2, cy = height / 2;
  const std::size_t n = std::min(drawn, contacts.size());
  double most = 1;
  std::vector<const json::object*> shown;
  for (std::size_t i = 0; i < n; ++i) {
    shown.push_back(&contacts[i].as_object());
    most = std::max(most, contacts[i].at("days_together").to_number<double>());
  }
  auto role_of = [](const json::object& c) {
    return c.contains("role") ? text_at(c, "role") : std::string("other");
  };
  std::stable_sort(shown.begin(), shown.end(), [&](const json::object* a, const json::object* b) {
    return role_of(*a) < role_of(*b);
  });
  std::string edges, nodes;
  std::map<std::string, bool> roles;
  char buf[256];
  for (std::size_t i = 0; i < n; ++i) {
    const auto& c = *shown[i];
    double share = c.at("days_together").to_number<double>() / most;
    double angle = 2 * std::numbers::pi * double(i) / double(n) - std::numbers::pi / 2;
    double distance = 215 - 85 * share;
    double x = cx + distance * std::cos(angle), y = cy + distance * std::sin(angle);
    // As large as days together say, never overlapping a neighbour on the ring.
    double r = std::max(
        3.0, std::min(4 + 9 * std::sqrt(share), 0.42 * 2 * std::numbers::pi * 130 / double(n)));
    std::string role = role_of(c);
    roles[role] = true;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke-width=\"%.1f\" stroke=\"#c3cad6\"/>",
                  cx, cy, x, y, 0.8 + 3 * share);
    edges += buf;
    std::string name = c.contains("name") ? text_at(c, "name") : text_at(c, "id");
    std::string label = name;
    if (label.size() > 20) {  // cut at a character's start, never inside one
      std::size_t cut = 19;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label = label.substr(0, cut) + "…";
    }
    std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", x, y,
                  r, colour_of(role));
    nodes += "<g class=\"contact\" data-contact=\"" + esc(text_at(c, "id")) + "\"><title>" +
             esc(name) + " (" + esc(text_at(c, "id")) + "), " + esc(role) + ", " +
             esc(text(c.at("days_together"))) + " days together</title>" + buf;
    if (n <= 60) {
      // Labels point away from the centre, read left to right on both sides.
      double degrees = angle * 180 / std::numbers::pi;
      bool left = std::cos(angle) < 0;
      double lx = cx + (distance + r + 5) * std::cos(angle),
             ly = cy + (distance + r + 5) * std::sin(angle);
      std::snprintf(buf, sizeof buf,
                    "<text transform=\"translate(%.1f %.1f) rotate(%.1f)\" text-anchor=\"%s\" "
                    "dominant-baseline=\"middle\" font-size=\"10\" fill=\"#1d2330\">",
                    lx, ly, left ? degrees + 180 : degrees, left ? "end" : "start");
      nodes += buf + esc(label) + "</text>";
    }
    nodes += "</g>";
  }
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                "aria-label=\"contacts by days together and role\">",
                width, height);
  std::string svg = buf + edges + nodes;
  std::snprintf(buf, sizeof buf,
                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"22\" fill=\"#23395d\"/><text x=\"%.1f\" "
                "y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">",
                cx, cy, cx, cy + 40);
  svg += buf + esc(student_label) + "</text></svg>";
  std::string legend = "<p class=\"legend\">";
  for (const auto& [role, _] : roles) {
    legend += "<span><i style=\"background:" + std::string(colour_of(role)) + "\"></i>" +
              esc(role) + "</span>";
  }
  legend += "</p><p class=\"muted\">Nearer and larger: more days together.";
  if (contacts.size() > n) {
    legend += " The " + std::to_string(n) +
              " contacts with the most days together are drawn; "
              "the table lists all " +
              std::to_string(contacts.size()) + ".";
  }
  return svg + legend + "</p>";
}

// One student's page, from what `rapport explain` reads, with every score left out.
std::string student_page(const json::object& network, const std::string& id, std::size_t drawn) {
  std::string name;
  if (const auto* s = network.if_contains("student"); s && s->is_object()) {
    name = text_at(s->as_object(), "name");
  }
  std::string label = name.empty() ? id : name + " (" + id + ")";
  // Most days together first (the order `explain` gives weighs recency and role too).
  json::array contacts = network.at("contacts").as_array();
  std::stable_sort(contacts.begin(), contacts.end(),
                   [](const json::value& a, const json::value& b) {
                     return a.at("days_together").to_number<double>() >
                            b.at("days_together").to_number<double>();
                   });
  std::string out = "<section><h2>" + esc(label) + "</h2><p>" +
                    std::to_string(network.at("rotations").as_array().size()) + " rotations, " +
                    std::to_string(contacts.size()) +
                    " contacts. Evaluations and letter scores are not shown here.</p>" +
                    picture(label, contacts, drawn) + "</section>";
  out +=
      "<section><h2>Contacts</h2><table><tr><th>name</th><th>id</th><th>role</th>"
      "<th>days together</th><th>last day</th><th>rotations</th></tr>";
  for (const auto& c : contacts) {
    const auto& o = c.as_object();
    std::string rotations;
    for (const auto& r : o.at("rotations").as_array()) {
      rotations += (rotations.empty() ? "" : ", ") + esc(text(r));
    }
    out += "<tr data-contact=\"" + esc(text_at(o, "id")) + "\"><td>" + esc(text_at(o, "name")) +
           "</td><td>" + esc(text_at(o, "id")) + "</td><td>" + esc(text_at(o, "role")) +
           "</td><td class=\"n\">" + esc(text(o.at("days_together"))) + "</td><td>" +
           esc(text_at(o, "last_day")) + "</td><td>" + rotations + "</td></tr>";
  }
  out += "</table></section>";
  const auto& letters = network.at("letter_candidates").as_array();
  out += "<section><h2>Letter candidates, by rank</h2>";
  if (letters.empty()) out += "<p class=\"muted\">None (or the letter hook is not enabled).</p>";
  if (!letters.empty()) out += "<table><tr><th>rank</th><th>attending</th><th>id</th></tr>";
  for (const auto& l : letters) {
    const auto& o = l.as_object();
    out += "<tr data-attending=\"" + esc(text_at(o, "attending")) + "\"><td class=\"n\">" +
           esc(text(o.at("rank"))) + "</td><td>" + esc(text_at(o, "name")) + "</td><td>" +
           esc(text_at(o, "attending")) + "</td></tr>";
  }
  if (!letters.empty()) out += "</table>";
  out += "</section>";
  const auto& follow_ups = network.at("open_follow_ups").as_array();
  out += "<section><h2>Open follow-ups</h2>";
  if (follow_ups.empty()) out += "<p class=\"muted\">None.</p>";
  if (!follow_ups.empty()) out += "<table><tr><th>due</th><th>hook</th><th>contact</th></tr>";
  for (const auto& f : follow_ups) {
    const auto& o = f.as_object();
    std::string contact = text_at(o, "contact");
    std::string who =
        o.contains("contact_name") ? text_at(o, "contact_name") + " (" + contact + ")" : contact;
    out += "<tr><td>" + esc(text_at(o, "due").substr(0, 10)) + "</td><td>" +
           esc(text_at(o, "hook")) + "</td><td>" + esc(who) + "</td></tr>";
  }
  if (!follow_ups.empty()) out += "</table>";
  out += "</section>";
  return out;
}

}  // namespace

bool StatusPage::wanted(const config::Config& config) {
  return !config.section("status_page").string_map("accounts").empty();
}

struct StatusPage::Impl {
  // The configuration, swapped by a reload without waiting for a page under way.
  std::mutex config_mutex;
  std::shared_ptr<const config::Config> next_config;
  bool reloaded = false;

  // What one request at a time uses (under `render`).
  std::mutex render;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const Telemetry> telemetry;
  std::unique_ptr<Store> store;
  // Credentials checked lately (SHA-256 of the Authorization header -> account, until):
  // scrypt costs a tenth of a second, and a browser sends the header with every page.
  std::map<std::string, std::pair<std::string, Steady::time_point>> checked;
  std::map<std::string, std::pair<int, Steady::time_point>> refused;  // see blocked()
  std::string decoy;  // what an unknown account is checked against

  void take_config() {
    std::lock_guard lock(config_mutex);
    if (!reloaded) return;
    config = next_config;
    reloaded = false;
    checked.clear();
    refused.clear();
    decoy.clear();
  }

  Store& open() {
    if (!store) store = open_store(*config, {.checkpoints = false});
    return *store;
  }

  // Refusals by client and account name (count, since): five in a minute and that pair
  // waits out the minute without a check, so that guessing a password is slow. Keyed by
  // the name too, so that others behind the same address (a proxy, a tunnel) can still
  // sign in, and anyone signed in lately (cached above) is never held up.
  bool blocked(const std::string& who, Steady::time_point now) {
    auto it = refused.find(who);
    if (it == refused.end()) return false;
    if (now - it->second.second > std::chrono::minutes(1)) {
      refused.erase(it);
      return false;
    }
    return it->second.first >= 5;
  }

  void note_refusal(const std::string& who, Steady::time_point now) {
    if (refused.size() >= 4096) {  // expired ones go first, blocking ones never
      std::erase_if(refused,
                    [&](const auto& r) { return now - r.second.second > std::chrono::minutes(1); });
      if (refused.size() >= 4096) {
        std::erase_if(refused, [](const auto& r) { return r.second.first < 5; });
      }
    }
    auto& [count, since] = refused[who];
    if (count == 0) since = now;
    ++count;
  }

  // The account the request signs in as; nullopt when it does not, `held` set when it
  // was not even checked (too many refusals).
  std::optional<std::string> account_of(const PageRequest& request, bool& held) {
    auto key = sha256(request.authorization);
    auto now = Steady::now();
    if (auto it = checked.find(key); it != checked.end()) {
      if (it->second.second > now) return it->second.first;
      checked.erase(it);
    }
    auto credentials = basic_credentials(request.authorization);
    if (!credentials) return std::nullopt;
    std::string who = request.peer + " " + credentials->first;
    if (blocked(who, now)) {
      held = true;
      return std::nullopt;
    }
    auto accounts = config->section("status_page").string_map("accounts");
    auto it = accounts.find(credentials->first);
    // An unknown account costs the same check as a known one, so that timing does not
    // tell account names apart (accounts made by `rapport hash-password` share costs).
    if (decoy.empty()) decoy = hash_like("decoy", accounts.begin()->second);
    bool ok = verify_password(credentials->second, it == accounts.end() ? decoy : it->second) &&
              it != accounts.end();
    if (!ok) {
      note_refusal(who, now);
      log::warn("status_page", "refused credentials",
                {{"account", it == accounts.end() ? std::string("(unknown)") : it->first},
                 {"peer", request.peer}});
      return std::nullopt;
    }
    refused.erase(who);
    if (checked.size() > 256) checked.clear();
    checked[key] = {credentials->first, now + std::chrono::minutes(5)};
    return credentials->first;
  }

  PageReply student(const PageRequest& request, const std::string& account, const std::string& id,
                    std::optional<TimePoint> as_of) {
    if (id.empty()) {
      return html(200, page("Student", account,
                            "<section><h2>A student's network</h2><p>Enter a student id "
                            "above.</p></section>"));
    }
    // A view is a disclosure, written in the admin's name: another site must not make
    // their browser (which resends Basic credentials) look a student up.
    if (request.fetch_site == "cross-site" || request.fetch_site == "same-site") {
      return plain_error(403, "Forbidden",
                         "A student's page opens from the status page itself, not from "
                         "another site.");
    }
    auto& s = open();
    if (!s.person(id) && s.rotations_of(id).empty()) {
      return html(404, page("Not found", account,
                            "<section><h2>No student with that id</h2><p>The store holds no "
                            "person or rotation with id <code>" +
                                esc(id) + "</code>.</p></section>"));
    }
    // As of `at=` when asked, else the engine's clock where it has stepped (a simulated
    // run's too), as `explain` does.
    TimePoint now = wall_clock();
    if (auto last = s.cursor(kEngineState, kLastStep)) now = parse_time(*last).value_or(now);
    if (as_of) now = *as_of;
    // The relationship memory of this one student (not the whole store's).
    RelationshipGraph graph;
    for (const auto& r : s.rotations_of(id)) graph.put_rotation(r);
    for (const auto& [contact, at] : s.touches_of(id)) {
      graph.put_touch(id, contact, std::chrono::floor<std::chrono::days>(at));
    }
    StoreContext context(
        s, [&graph]() -> const Relationships& { return graph; }, now);
    auto letters = letter_hook_of(*config);
    auto network =
        json::parse(network_json(s, context, id, letters ? &*letters : nullptr)).as_object();
    if (request.method == "GET") {  // HEAD shows nothing
      s.add_disclosure({.action_id = "status_page_view",
                        .student_id = id,
                        .contact_id = "",
                        .fields = "contacts,letter_candidates.rank,open_follow_ups",
                        .sink = "status_page",
                        .endpoint = "account:" + account,
                        .basis = "legitimate_educational_interest",
                        .at = wall_clock()});
      log::info("status_page", "student page viewed", {{"student", id}, {"account", account}});
    }
    auto drawn = std::size_t(config->section("status_page").integer("contacts_drawn"));
    return html(200, page("Student " + id, account, student_page(network, id, drawn)));
  }

  PageReply handle(const PageRequest& request) {
    take_config();
    if (!wanted(*config)) {
      return plain_error(404, "Not found", "No status page is configured (status_page.accounts).");
    }
    if (!request.secure && !request.loopback) {
      return plain_error(403, "Forbidden",
                         "The status page answers only over TLS (listener.ops_tls_certificate) "
                         "or to clients on this machine: a password sent in clear is refused.");
    }
    if (request.method != "GET" && request.method != "HEAD") {
      auto reply = plain_error(405, "Method not allowed", "The status page is read-only.");
      reply.headers.emplace_back("Allow", "GET, HEAD");
      return reply;
    }
    bool held = false;
    auto account = account_of(request, held);
    if (held) {
      auto reply = plain_error(429, "Too many attempts",
                               "Too many wrong passwords for this account from this address; "
                               "wait a minute.");
      reply.headers.emplace_back("Retry-After", "60");
      return reply;
    }
    if (!account) {
      auto reply = plain_error(401, "Sign in",
                               "The status page needs an account's name and "
                               "password (status_page.accounts).");
      reply.headers.emplace_back("WWW-Authenticate",
                                 "Basic realm=\"Rapport status\", "
                                 "charset=\"UTF-8\"");
      return reply;
    }
    auto url = boost::urls::parse_origin_form(request.target);
    if (!url) return plain_error(400, "Bad request", "The address is not valid.");
    std::string path = url->path();
    try {
      if (path == "/status" || path == "/status/") {
        auto st = status_of(*config, open());
        std::map<std::string, std::string> polled;
        for (const auto& s : st.at("sources").as_array()) {
          std::string name = text_at(s.as_object(), "name");
          auto at = telemetry ? telemetry->gauge("rapport_source_last_poll_timestamp_seconds",
                                                 "source=\"" + name + "\"")
                              : std::nullopt;
          if (at) polled[name] = format_time(TimePoint{std::chrono::seconds(std::int64_t(*at))});
        }
        return html(200, page("Rapport status", *account, overview(st, polled)));
      }
      if (path == "/status/student") {
        std::string id;
        if (auto it = url->params().find("id"); it != url->params().end()) id = (*it).value;
        while (!id.empty() && id.back() == ' ') id.pop_back();
        while (!id.empty() && id.front() == ' ') id.erase(0, 1);
        std::optional<TimePoint> as_of;
        if (auto it = url->params().find("at"); it != url->params().end()) {
          std::string text = (*it).value;
          auto day = parse_date(text);
          as_of = day ? std::optional<TimePoint>(TimePoint{*day}) : parse_time(text);
          if (!as_of) {
            return plain_error(400, "Bad request",
                               "at= is a date (YYYY-MM-DD) or an RFC 3339 time.");
          }
        }
        return student(request, *account, id, as_of);
      }
    } catch (const std::exception& e) {
      store.reset();  // opened again at the next request
      log::error("status_page", "cannot make the page", {{"error", soci_util::message_of(e)}});
      return plain_error(503, "Unavailable",
                         "The page cannot be made now (the log says why); "
                         "try again.");
    }
    return plain_error(404, "Not found", "No such page.");
  }
};

StatusPage::StatusPage(std::shared_ptr<const config::Config> config,
                       std::shared_ptr<const Telemetry> telemetry)
    : impl_(new Impl) {
  impl_->config = std::move(config);
  impl_->telemetry = std::move(telemetry);
}

StatusPage::~StatusPage() = default;

std::string StatusPage::problem(const config::Config& config) {
  for (const auto& [name, hash] : config.section("status_page").string_map("accounts")) {
    if (name.empty() || name.find(':') != std::string::npos) {
      return "account \"" + name +
             "\": a name is not empty and holds no ':' (HTTP Basic "
             "authentication sends name:password)";
    }
  }
  if (!wanted(config) || !config.section("listener").str("ops_listen").empty()) return "";
  return "accounts are set but listener.ops_listen is not: the status page is served on "
         "the operations address only";
}

void StatusPage::reload(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(impl_->config_mutex);
  impl_->next_config = std::move(config);
  impl_->reloaded = true;
}

PageReply StatusPage::handle(const PageRequest& request) {
  std::lock_guard lock(impl_->render);
  return impl_->handle(request);
}

}  // namespace rapport::status
