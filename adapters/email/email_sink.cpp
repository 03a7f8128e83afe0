#include "adapters/email/email_sink.hpp"

#include <curl/curl.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "adapters/email/digest_message.hpp"
#include "engine/timers.hpp"
#include "log/log.hpp"

namespace rapport::email {
namespace {

struct Options {
  std::string url;  // smtp://host:port or smtps://host:port
  std::string tls;  // starttls, implicit, none
  std::string username, password, ca_file;
  std::chrono::milliseconds timeout{30'000};
  std::vector<std::chrono::milliseconds> schedule;
  std::string period;  // daily, weekly
  int hour = 8;
  int weekday = 1;  // ISO: Monday 1 ... Sunday 7, for weekly
  bool weekends = false;
  std::string timezone;
  MessageOptions message;
  Templates templates;
};

class EmailSink final : public DigestSink {
 public:
  static constexpr std::size_t kQueued = 16;

  EmailSink(std::string name, Options options)
      : name_(std::move(name)), options_(std::move(options)) {
    static std::once_flag curl_ready;
    std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    worker_ = std::thread([this] { work(); });
  }
  ~EmailSink() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      abort_ = true;  // a send under way ends now (its digest stays pending: sent again later)
    }
    wake_.notify_all();
    worker_.join();
  }

  const std::string& name() const override { return name_; }
  std::string destination() const override {
    // Without credentials: the server and the scheme.
    return options_.url;
  }

  TimePoint next_due(TimePoint after) const override {
    return next_local_hour(after, options_.timezone, options_.hour, [&](unsigned weekday) {
      return options_.period == "weekly" ? int(weekday) == options_.weekday
                                         : (options_.weekends || weekday <= 5);
    });
  }

  ComposedDigest compose(const DigestRequest& request) const override {
    return compose_message(request, options_.message, options_.templates);
  }

  std::size_t room(std::chrono::steady_clock::time_point) override {
    std::lock_guard lock(mutex_);
    // One connection, kept open between messages; a few waiting keep it busy.
    std::size_t taken = queue_.size() + std::size_t(busy_);
    return taken < kQueued ? kQueued - taken : 0;
  }
  void start(SendRequest request) override {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(request));
    }
    wake_.notify_all();
  }
  std::vector<SendResult> finished() override {
    std::lock_guard lock(mutex_);
    return std::exchange(done_, {});
  }
  std::optional<std::chrono::milliseconds> retry_delay(int failed_attempts) const override {
    if (failed_attempts < 0 || std::size_t(failed_attempts) >= options_.schedule.size()) {
      return std::nullopt;
    }
    return options_.schedule[std::size_t(failed_attempts)];
  }
  // 5xx: the server refuses for good; 4xx and no answer: later.
  bool permanent(int status) const override { return status >= 500; }

 private:
  void work() {
    // One handle for the thread: libcurl keeps its connection to the server between sends.
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    for (;;) {
      SendRequest request;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        request = std::move(queue_.front());
        queue_.pop_front();
        busy_ = 1;
      }
      auto result = send(curl.get(), request);
      std::lock_guard lock(mutex_);
      busy_ = 0;
      done_.push_back(std::move(result));
    }
  }

  struct Upload {
    const std::string* text;
    std::size_t at = 0;
  };
  static int progress(void* abort, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<std::atomic<bool>*>(abort)->load() ? 1 : 0;
  }
  static std::size_t read(char* to, std::size_t size, std::size_t count, void* user) {
    auto* up = static_cast<Upload*>(user);
    std::size_t n = std::min(size * count, up->text->size() - up->at);
    std::memcpy(to, up->text->data() + up->at, n);
    up->at += n;
    return n;
  }

  SendResult send(CURL* c, const SendRequest& request) {
    SendResult result;
    result.delivery = request.delivery;
    auto began = std::chrono::steady_clock::now();
    curl_easy_reset(c);  // the options go, the open connection stays
    char error[CURL_ERROR_SIZE] = "";
    Upload upload{&request.body};
    std::string from = "<" + address_of(options_.message.from) + ">";
    std::string to = "<" + request.to + ">";
    curl_slist* rcpt = curl_slist_append(nullptr, to.c_str());
    curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     long(options_.tls == "none" ? CURLUSESSL_NONE : CURLUSESSL_ALL));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
    }
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &EmailSink::read);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(options_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(options_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &abort_);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &EmailSink::progress);
    CURLcode code = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
    long reply = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
    curl_slist_free_all(rcpt);
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - began);
    if (code == CURLE_OK) {
      result.status = reply > 0 ? int(reply) : 250;
    } else {
      // A refusal of this message carries the server's reply code. A failure of the
      // server or of our account (no connection, TLS, a certificate that does not verify,
      // authentication refused) is no verdict on the message: no code, tried again.
      bool server = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                    code == CURLE_OPERATION_TIMEDOUT || code == CURLE_LOGIN_DENIED ||
                    code == CURLE_USE_SSL_FAILED || code == CURLE_SSL_CONNECT_ERROR ||
                    code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_ABORTED_BY_CALLBACK;
      result.status = !server && reply >= 400 ? int(reply) : 0;
      result.snippet =
          (*error ? std::string(error) : std::string(curl_easy_strerror(code))).substr(0, 200);
    }
    return result;
  }

  std::string name_;
  Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<SendRequest> queue_;
  std::vector<SendResult> done_;
  int busy_ = 0;
  bool stopping_ = false;
  std::atomic<bool> abort_{false};
  std::thread worker_;  // last: started once the rest is ready
};

// The URL's host and whether it carries credentials, as libcurl will read it.
struct UrlParts {
  std::string host;
  bool userinfo = false;
};
UrlParts parts_of(const std::string& url) {
  std::unique_ptr<CURLU, void (*)(CURLU*)> u(curl_url(), curl_url_cleanup);
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    throw std::invalid_argument("url: \"" + url + "\" is not a URL");
  }
  UrlParts out;
  char* part = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &part, 0) == CURLUE_OK && part) out.host = part;
  curl_free(part);
  part = nullptr;
  if (curl_url_get(u.get(), CURLUPART_USER, &part, 0) == CURLUE_OK && part) out.userinfo = true;
  curl_free(part);
  return out;
}

bool loopback_host(const std::string& host) {
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// `timezone` is settled by the configuration's loading (the engine's when the sink says
// none).
Options options_of(const config::Section& s) {
  Options o;
  o.url = s.str("url");
  if (!o.url.starts_with("smtp://") && !o.url.starts_with("smtps://")) {
    throw std::invalid_argument("url: \"" + o.url +
                                "\" is not smtp://HOST:PORT or smtps://HOST:PORT");
  }
  auto parts = parts_of(o.url);
  if (parts.userinfo) {
    throw std::invalid_argument(
        "url: holds credentials; give them as username and password (the URL is shown in "
        "the disclosure log and status)");
  }
  o.tls = o.url.starts_with("smtps://") ? "implicit" : s.str("tls");
  if (o.tls == "implicit" && o.url.starts_with("smtp://")) {
    throw std::invalid_argument("tls: implicit TLS needs an smtps:// url");
  }
  if (o.tls == "none" && !loopback_host(parts.host)) {
    throw std::invalid_argument(
        "tls: none sends passwords and students' data in clear; only a server on this "
        "machine (127.0.0.1, localhost, [::1]) may go without TLS");
  }
  if (!s.strings("fields").empty()) {
    throw std::invalid_argument(
        "fields: a digest always holds each prompt's reason and the contact's name, role and "
        "email (that is its point, and the disclosure log says so); leave fields out");
  }
  o.username = s.str("username");
  o.password = s.str("password");
  o.ca_file = s.str("ca_file");
  o.timeout = s.duration("timeout");
  o.schedule = config::schedule_of(s.strings("retry_schedule"), "retry_schedule");
  o.period = s.str("period");
  o.hour = int(s.integer("hour"));
  static const char* days[] = {"monday", "tuesday",  "wednesday", "thursday",
                               "friday", "saturday", "sunday"};
  for (int i = 0; i < 7; ++i) {
    if (s.str("weekday") == days[i]) o.weekday = i + 1;
  }
  o.weekends = s.boolean("weekends");
  o.timezone = s.str("timezone").empty() ? std::string("UTC") : s.str("timezone");
  o.message.from = s.str("from");
  if (!plausible_address(address_of(o.message.from))) {
    throw std::invalid_argument("from: \"" + o.message.from +
                                "\" is not an address (name <address> or address)");
  }
  o.message.school_name = s.str("school_name");
  o.message.color = s.str("color");
  o.message.signature = s.str("signature");
  o.message.unsubscribe_url = s.str("unsubscribe_url");
  if (!o.message.unsubscribe_url.empty() && !o.message.unsubscribe_url.starts_with("https://")) {
    throw std::invalid_argument(
        "unsubscribe_url: one-click unsubscribing (RFC 8058) needs an "
        "https:// URL");
  }
  o.message.timezone = o.timezone;
  o.message.period = o.period;
  o.templates = load_templates(s.str("templates"));
  return o;
}

}  // namespace

SinkKind email_sink_kind() {
  using config::Type;
  SinkKind kind;
  kind.type = "email";
  kind.schema = {
      "sinks (type: email)",
      "Emails each student one digest a period (daily or weekly, at a local hour): that "
      "period's prompts grouped by kind, each with its reason and the contact's name, role and "
      "email, as plain text and HTML, with an iCalendar file of the thank-you and follow-up "
      "reminders. For students (audience: student, under the prompt budget).",
      {
          {.name = "audience",
           .type = Type::enumeration,
           .description = "who reads it: students (an email digest is theirs alone)",
           .default_value = "student",
           .choices = {"student"}},
          {.name = "url",
           .type = Type::string,
           .description = "the SMTP server: smtp://HOST:PORT (STARTTLS) or smtps://HOST:PORT "
                          "(implicit TLS); certificates are verified",
           .required = true},
          {.name = "tls",
           .type = Type::enumeration,
           .description = "starttls (required before anything is sent), implicit (smtps://), "
                          "or none (only for a server on this machine)",
           .default_value = "starttls",
           .choices = {"starttls", "implicit", "none"}},
          {.name = "username",
           .type = Type::string,
           .description = "SMTP authentication (with password); empty: none",
           .default_value = ""},
          {.name = "password",
           .type = Type::secret,
           .description = "SMTP password: ${ENV} or password_file",
           .default_value = ""},
          {.name = "ca_file",
           .type = Type::path,
           .description = "PEM certificates trusted for the server, besides the system's",
           .default_value = ""},
          {.name = "timeout",
           .type = Type::duration,
           .description = "one attempt, connect to the server's last reply",
           .default_value = "30s",
           .min = 1000,
           .max = 600'000},
          {.name = "retry_schedule",
           .type = Type::string_list,
           .description = "when each attempt is made, counted from the failure before it; a "
                          "4xx reply or no answer is tried again, a 5xx reply is final (the "
                          "digest is recorded as dead)",
           .default_value = "[0s, 1m, 10m, 1h, 4h, 12h, 24h]"},
          {.name = "from",
           .type = Type::string,
           .description = "the sender: \"Name <address>\" or an address",
           .required = true},
          {.name = "period",
           .type = Type::enumeration,
           .description = "one digest a day or a week per student (nothing when nothing waits)",
           .default_value = "daily",
           .choices = {"daily", "weekly"}},
          {.name = "hour",
           .type = Type::integer,
           .description = "local hour (in timezone) at which digests are composed and sent",
           .default_value = "8",
           .min = 0,
           .max = 23},
          {.name = "weekday",
           .type = Type::enumeration,
           .description = "the day of a weekly digest",
           .default_value = "monday",
           .choices = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                       "sunday"}},
          {.name = "weekends",
           .type = Type::boolean,
           .description = "daily digests on Saturday and Sunday too (else Monday's holds them)",
           .default_value = "false"},
          {.name = "templates",
           .type = Type::path,
           .description = "a folder with the school's own subject.mustache, "
                          "digest.txt.mustache and digest.html.mustache (each missing one is "
                          "the built-in); empty: the built-in ones",
           .default_value = ""},
          {.name = "school_name",
           .type = Type::string,
           .description = "the school's name, in the subject and the header",
           .default_value = "Rapport"},
          {.name = "color",
           .type = Type::string,
           .description = "the school's colour (#rrggbb), for the header and links",
           .default_value = "#1f5fa8",
           .check =
               [](const std::string& v) {
                 bool ok = v.size() == 7 && v[0] == '#' &&
                           std::all_of(v.begin() + 1, v.end(), [](char c) {
                             return std::isxdigit(static_cast<unsigned char>(c));
                           });
                 return ok ? std::string() : "\"" + v + "\" is not a colour (#rrggbb)";
               }},
          {.name = "signature",
           .type = Type::string,
           .description = "the closing lines of every digest",
           .default_value = "Your clinical education office"},
          {.name = "unsubscribe_url",
           .type = Type::string,
           .description = "where a student stops these emails (List-Unsubscribe and "
                          "List-Unsubscribe-Post, RFC 8058, and a link); {student} is "
                          "replaced by the student's id; empty: none",
           .default_value = ""},
      }};
  kind.create = [](const std::string& name, const config::Section& s) -> std::unique_ptr<Sink> {
    try {
      auto o = options_of(s);
      check_templates(o.templates, o.message);  // a broken template stops the start, not a step
      return std::make_unique<EmailSink>(name, std::move(o));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(s.path() + "." + e.what());
    } catch (const TemplateError& e) {
      throw std::invalid_argument(e.file + ":" + std::to_string(e.line) + ":" +
                                  std::to_string(e.column) + ": " + e.what());
    }
  };
  kind.check = [](const std::string&, const config::Section& s,
                  std::vector<config::Diagnostic>& out) {
    try {
      auto o = options_of(s);
      check_templates(o.templates, o.message);
    } catch (const std::invalid_argument& e) {
      auto what = std::string(e.what());
      auto colon = what.find(':');
      out.push_back({"", s.mark(), s.path() + "." + what.substr(0, colon),
                     colon == std::string::npos ? what : what.substr(colon + 2), false});
    } catch (const TemplateError& e) {
      out.push_back({e.file, {e.line, e.column}, s.path() + ".templates", e.what(), false});
    }
  };
  return kind;
}

}  // namespace rapport::email
