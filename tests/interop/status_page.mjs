// The status page in a real browser: Debian's Chromium, headless, driven by puppeteer-core
// (which downloads no browser). Prints what it saw as JSON; status_page_test.py judges.
//
// usage: node status_page.mjs BASE_URL ACCOUNT PASSWORD STUDENT_ID AS_OF SCREENSHOT_DIR
import puppeteer from "puppeteer-core";

const [base, account, password, student, asOf, shots] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // As root, Chromium needs --no-sandbox; the rest keep it off the (closed) network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"],
});
const out = {};
try {
  // Headless, with nobody to ask for a password, Chromium ends the navigation on the
  // server's challenge (a page answered 200 would be a failure).
  const anonymous = await browser.newPage();
  try {
    out.without_credentials = (await anonymous.goto(`${base}/status`)).status();
  } catch (e) {
    out.without_credentials = e.message.split("\n")[0];
  }
  await anonymous.close();

  // A page of its own, so that the refusal's messages are not counted below.
  const page = await browser.newPage();
  let errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.authenticate({ username: account, password });
  const response = await page.goto(`${base}/status`, { waitUntil: "load" });
  out.overview_status = response.status();
  out.overview_cells = await page.$$eval("[data-status]", (els) =>
    els.map((e) => [e.dataset.status, e.dataset.value ?? e.textContent.trim()]));
  out.overview_title = await page.title();
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
  out.overview_errors = errors;
  errors = [];

  // The student form in the header, as an admin would use it.
  await page.type("header input[name=id]", student);
  const [navigation] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }),
                     page.click("header button")]);
  out.student_url = page.url();
  out.form_status = navigation.status();
  // The same student as of the end of the demo's semester (the daemon's clock is today's).
  const asked = await page.goto(`${base}/status/student?id=${encodeURIComponent(student)}` +
                                `&at=${asOf}`, { waitUntil: "load" });
  out.student_status = asked.status();
  out.drawn = await page.$$eval("svg g.contact", (els) => els.map((e) => e.dataset.contact));
  out.letters = await page.$$eval("tr[data-attending]", (els) =>
    els.map((e) => e.dataset.attending));
  out.listed = await page.$$eval("tr[data-contact]", (els) => els.map((e) => e.dataset.contact));
  out.svg_size = await page.$eval("svg", (e) => {
    const r = e.getBoundingClientRect();
    return [r.width, r.height];
  });
  out.student_text = await page.evaluate(() => document.body.innerText);
  out.student_html = await page.content();
  await page.screenshot({ path: `${shots}/student.png`, fullPage: true });
  out.student_errors = errors;
  out.requests = requests;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
