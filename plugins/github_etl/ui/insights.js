// The GitHub insights page: reads the repository API beside it with the Airflow session's cookie and
// draws its answers with Chart.js. Every chart object is kept in window.githubEtlCharts, so a test (or a
// curious user's console) can read exactly what was drawn.
"use strict";

(() => {
  // The page is served at <prefix>/ui/; the API lives at <prefix>/.
  const API = new URL("../", window.location.href);
  // The DAG whose readers may read the data (GITHUB_ETL_API_DAG_ID), written into the page by the server.
  const DAG = document.querySelector('meta[name="github-etl-dag"]').content;
  const COLORS = ["#017cee", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#1098ad", "#e03131", "#5c940d"];
  const TRENDING_ROWS = 10;
  // The load runs read for the runs chart, the last to finish first (the API's most).
  const RUNS_READ = 500;
  const charts = { history: null, sparklines: [], languages: null, runs: null };
  window.githubEtlCharts = charts;
  // Each section's request under way, stopped when the section asks again (a second search, another filter):
  // an earlier answer arriving late must not replace the later one.
  const pending = {};

  class Unavailable extends Error {}

  async function get(path, params = {}, signal = undefined) {
    const url = new URL(path, API);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      // The network or Airflow's API server is down: fetch says only "Failed to fetch".
      throw new Unavailable("Airflow's API server did not answer; reload the page in a moment.");
    }
    if (response.status === 401) throw new Unavailable("Log in to Airflow to see the warehouse.");
    if (response.status === 403) {
      throw new Unavailable(`Airflow does not let this user read the ${DAG} DAG, whose data this page shows.`);
    }
    if (response.status === 503) {
      const reason = await response.json().catch(() => ({}));
      throw new Unavailable(reason.detail ?? "The warehouse is unavailable right now; reload in a moment.");
    }
    if (response.status === 422) {
      // FastAPI's validation list: each refused parameter and why, e.g. "topic: String should have at most
      // 255 characters".
      const { detail } = await response.json().catch(() => ({}));
      const reasons = Array.isArray(detail)
        ? detail.map((error) => [error.loc?.at(-1), error.msg].filter((part) => part !== undefined).join(": "))
        : [detail].filter((reason) => typeof reason === "string");
      if (reasons.length) throw new Unavailable(`The API refused the request: ${reasons.join("; ")}.`);
    }
    if (response.status !== 404 && !response.ok) {
      throw new Unavailable(`The API answered ${response.status} to ${url.pathname}.`);
    }
    return response;
  }

  // The box of a section's chart, or of the trending table.
  function boxOf(section) {
    return document.getElementById(`${section}-chart-box`) ?? document.getElementById(`${section}-table-box`);
  }

  // A section shows either its chart or a sentence saying why there is none, never an empty chart.
  function say(section, sentence) {
    document.getElementById(`${section}-message`).textContent = sentence;
    boxOf(section).hidden = true;
    const figures = document.getElementById(`${section}-figures`);
    if (figures) figures.hidden = true;
    if (charts[section] && !Array.isArray(charts[section])) {
      charts[section].destroy();
      charts[section] = null;
    }
  }

  // unit: written after each figure of the chart's text alternative (" %"); gap: its table's word for a day
  // without a value.
  function draw(section, config, note = "", unit = "", gap = "no observation") {
    document.getElementById(`${section}-message`).textContent = note;
    document.getElementById(`${section}-chart-box`).hidden = false;
    if (charts[section]) charts[section].destroy();
    config.options = { animation: false, maintainAspectRatio: false, ...config.options };
    const canvas = document.getElementById(`${section}-chart`);
    charts[section] = new window.Chart(canvas, config);
    paint(charts[section]);
    // A canvas is a blank image to a screen reader: its label says what the chart shows, in figures.
    canvas.dataset.title ??= canvas.getAttribute("aria-label");
    canvas.setAttribute("aria-label", `${canvas.dataset.title}. ${describe(config.data, unit)}`);
    tabulate(section, config.data, unit, gap);
    return charts[section];
  }

  // The chart's figures as a table under it, a row per date and a column per series: what the tooltips show
  // a mouse, for a screen reader and the keys.
  function tabulate(section, data, unit, gap) {
    const figures = document.getElementById(`${section}-figures`);
    const table = figures.querySelector("table");
    const heading = (text, scope) => {
      const cell = document.createElement("th");
      cell.scope = scope;
      cell.textContent = text;
      return cell;
    };
    const head = table.tHead.rows[0] ?? table.tHead.insertRow();
    head.replaceChildren(heading("Date", "col"), ...data.datasets.map((dataset) => heading(dataset.label, "col")));
    for (const cell of [...head.cells].slice(1)) cell.className = "number";
    const rows = table.tBodies[0];
    rows.replaceChildren();
    data.labels.forEach((label, index) => {
      const row = rows.insertRow();
      row.append(heading(label, "row"));
      for (const dataset of data.datasets) {
        const value = dataset.data[index];
        const cell = row.insertCell();
        cell.className = "number";
        cell.textContent = value === null || value === undefined ? gap : `${figure(value)}${unit}`;
      }
    });
    figures.hidden = false;
  }

  // "octo/alpha stars: 500 on 2026-11-01, 669 on 2026-11-14 (lowest 500, highest 669)": each series' first
  // and last observed values and its range, for a chart's text alternative.
  function describe(data, unit = "") {
    return data.datasets
      .map((dataset) => {
        const observed = dataset.data
          .map((value, index) => [value, data.labels[index]])
          .filter(([value]) => value !== null && value !== undefined);
        if (observed.length === 0) return `${dataset.label}: no observation`;
        const [[first, from], [last, to]] = [observed[0], observed.at(-1)];
        const values = observed.map(([value]) => value);
        return (
          `${dataset.label}: ${figure(first)}${unit} on ${from}, ${figure(last)}${unit} on ${to} ` +
          `(lowest ${figure(Math.min(...values))}${unit}, highest ${figure(Math.max(...values))}${unit})`
        );
      })
      .join("; ");
  }

  function figure(value) {
    return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
  }

  // -- light or dark, as Airflow's UI around the page ----------------------------------------------

  // Airflow's UI marks its root element "dark" or "light", and keeps its user's choice under "theme" in this
  // origin's storage ("system" follows the system's). Framed by it, the page reads its root; opened alone, the
  // stored choice.
  function airflowTheme() {
    try {
      const root = window.parent === window ? null : window.parent.document.documentElement;
      if (root?.classList.contains("dark")) return "dark";
      if (root?.classList.contains("light")) return "light";
    } catch {
      // Framed by a page of another origin, whose theme is not readable.
    }
    let chosen = null;
    try {
      chosen = window.localStorage.getItem("theme");
    } catch {
      // Storage refused (a privacy setting): the system's theme.
    }
    if (chosen === "dark" || chosen === "light") return chosen;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  // Chart.js draws its text and grid in fixed greys; these follow the page's colours instead.
  function paint(chart) {
    const style = getComputedStyle(document.documentElement);
    const [text, muted, grid] = ["--text", "--muted", "--grid"].map((name) => style.getPropertyValue(name).trim());
    for (const scale of Object.values(chart.options.scales ?? {})) {
      scale.ticks.color = muted;
      scale.grid.color = grid;
      scale.border.color = grid;
      scale.title.color = text;
    }
    chart.options.plugins.legend.labels.color = text;
    chart.update("none");
  }

  function applyTheme() {
    const theme = airflowTheme();
    if (document.documentElement.dataset.theme === theme) return;
    document.documentElement.dataset.theme = theme;
    for (const chart of [charts.history, charts.languages, charts.runs]) if (chart) paint(chart);
  }

  function followTheme() {
    applyTheme();
    try {
      if (window.parent !== window) {
        const root = window.parent.document.documentElement;
        new MutationObserver(applyTheme).observe(root, { attributes: true, attributeFilter: ["class"] });
      }
    } catch {
      // Framed by another origin: the stored choice and the system's theme only.
    }
    window.addEventListener("storage", (event) => {
      if (event.key === "theme") applyTheme();
      if (event.key === "timezone") noteZone();
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  }

  // -- time zone -------------------------------------------------------------------------------------

  // Airflow's UI shows times in the zone its user picked (stored under "timezone", as JSON), by default the
  // browser's. The warehouse's dates are UTC days: said beside that zone, so a run Airflow shows on the 14th
  // does not silently appear under the 13th here.
  function airflowZone() {
    try {
      const chosen = JSON.parse(window.localStorage.getItem("timezone") ?? "null");
      if (typeof chosen === "string" && chosen) return chosen;
    } catch {
      // Nothing stored, or not JSON: the browser's zone, as Airflow's UI falls back to.
    }
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  function noteZone() {
    const zone = airflowZone();
    document.getElementById("zone-note").textContent = ["UTC", "Etc/UTC", "GMT", "Etc/GMT"].includes(zone)
      ? ""
      : `, which is not always the day in ${zone}, where Airflow shows its times`;
  }

  // A name or language from the warehouse as a sentence or a chart label writes it: text outside ASCII is
  // isolated (FSI ... PDI), so that a right-to-left letter or override in it reorders itself, not the words
  // around it. ASCII, every name GitHub allows, is left as typed.
  function isolated(text) {
    return /^[\x00-\x7f]*$/.test(text) ? text : `\u2068${text}\u2069`;
  }

  // "1 run", "2 runs".
  function count(number, noun) {
    return `${number.toLocaleString()} ${noun}${number === 1 ? "" : "s"}`;
  }

  // Runs a section's work with the signal that stops it, dimming what the section shows until it answers;
  // an error becomes the section's sentence.
  async function guarded(section, work) {
    pending[section]?.abort();
    const request = new AbortController();
    pending[section] = request;
    const box = document.getElementById(`${section}-section`);
    box.setAttribute("aria-busy", "true");
    try {
      return await work(request.signal);
    } catch (error) {
      if (request.signal.aborted) return undefined;
      return say(section, error instanceof Unavailable ? error.message : String(error));
    } finally {
      if (pending[section] === request) {
        box.removeAttribute("aria-busy");
        delete pending[section];
      }
    }
  }

  // -- star history ------------------------------------------------------------------------------

  // owner/name from what a user pastes: the name as GitHub's page header shows it ("apache / airflow"),
  // "@apache/airflow", or the repository's address or clone URL (https://github.com/apache/airflow.git,
  // git@github.com:apache/airflow.git), whose further path (/tree/main, ?tab=...) names the same repository.
  function repositoryOf(typed) {
    let text = typed.trim().replace(/^(?:[a-z+]+:\/\/)?(?:[^/@\s]+@)?(?:www\.)?github\.com[/:]/i, "");
    text = text.replace(/[?#].*$/, "");
    const parts = text.split("/").map((part) => part.trim());
    const [owner, name] = [parts[0].replace(/^@/, ""), (parts[1] || "").replace(/\.git$/, "")];
    return { owner, name };
  }

  async function showHistory(fullName, days, signal) {
    const { owner, name } = repositoryOf(fullName);
    // "." and ".." name no repository (GitHub refuses them), and in the URL they would be steps to another path.
    if ([owner, name].some((part) => !part || part === "." || part === "..")) {
      return say("history", "Type a repository as owner/name, e.g. apache/airflow.");
    }
    const path = `repositories/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/history`;
    const response = await get(path, { days }, signal);
    if (response.status === 404) {
      return say("history", `No repository ${isolated(`${owner}/${name}`)} in the warehouse.`);
    }
    const body = await response.json();
    if (signal.aborted) return undefined;
    const named = isolated(body.full_name);
    const observed = body.points.filter((point) => point.stargazers_count !== null);
    if (observed.length === 0) {
      return say("history", `${named} is in the warehouse but has no observation yet.`);
    }
    if (observed.length === 1) {
      // Once in this window only: a repository refreshed monthly has its earlier observations further back.
      const [only] = observed;
      const longer = [...document.getElementById("history-days").options]
        .map((option) => option.value)
        .filter((value) => Number(value) > Number(days));
      return say(
        "history",
        `${named} was observed once, on ${only.date}, with ${only.stargazers_count.toLocaleString()} stars, ` +
          `in the ${count(Number(days), "day")} ending that day: a history needs a second observation` +
          (longer.length
            ? `; ${new Intl.ListFormat("en", { type: "disjunction" }).format(longer)} days may hold one.`
            : "."),
      );
    }
    const gaps = body.points.length - observed.length;
    draw(
      "history",
      {
        type: "line",
        data: {
          labels: body.points.map((point) => point.date),
          datasets: [
            {
              label: `${named} stars`,
              data: body.points.map((point) => point.stargazers_count),
              borderColor: COLORS[0],
              backgroundColor: COLORS[0],
              pointRadius: 2,
              spanGaps: false,
            },
          ],
        },
        options: { scales: { y: { title: { display: true, text: "stars" } } } },
      },
      `${named}: ${observed.length} observed days from ${body.start_date} to ${body.end_date}` +
        (gaps ? `; ${gaps} days without an observation are left as gaps.` : "."),
    );
  }

  // -- trending ----------------------------------------------------------------------------------

  // filters: language, topic and min_stars as the API takes them; an empty one is left out.
  async function showTrending(windowDays, filters, signal) {
    const table = document.getElementById("trending-table");
    const answer = await get("trending", { window_days: windowDays, ...filters, limit: TRENDING_ROWS }, signal);
    const body = await answer.json();
    if (signal.aborted) return undefined;
    charts.sparklines.forEach((chart) => chart.destroy());
    charts.sparklines = [];
    const message = document.getElementById("trending-message");
    if (body.items.length === 0) {
      // compared and rising count every repository of the two dates, filters or not.
      const filtered = Object.values(filters).some((value) => value !== undefined && value !== null && value !== "");
      let why = "";
      if (body.compared !== null && body.rising === 0) why = " No repository gained stars: none to list.";
      else if (body.compared !== null && filtered) why = " None matches the filters: no repository to list.";
      say("trending", `${body.basis}${why}`);
      return body;
    }
    message.textContent = body.basis;
    const rows = table.querySelector("tbody");
    rows.replaceChildren();
    body.items.forEach((item, index) => {
      const row = rows.insertRow();
      row.dataset.repository = item.full_name;
      row.insertCell().textContent = String(index + 1);
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.textContent = item.full_name;
      open.addEventListener("click", () => {
        document.getElementById("repository").value = item.full_name;
        const days = document.getElementById("history-days").value;
        guarded("history", (history) => showHistory(item.full_name, days, history));
      });
      row.insertCell().append(open);
      row.insertCell().textContent = item.language ?? "";
      const stars = row.insertCell();
      stars.className = "number";
      stars.textContent = item.stargazers_count.toLocaleString();
      const gain = row.insertCell();
      gain.className = "number";
      gain.textContent = `+${item.gain.toLocaleString()}`;
      const spark = row.insertCell();
      spark.className = "spark";
      const canvas = document.createElement("canvas");
      // Drawn at this size (the chart is not responsive), so the table keeps one line per row.
      canvas.width = 150;
      canvas.height = 32;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${isolated(item.full_name)} stars over the window`);
      spark.append(canvas);
    });
    boxOf("trending").hidden = false;
    await Promise.all(body.items.map((item, index) => sparkline(item, body, rows.rows[index].cells[5], signal)));
    return body;
  }

  // A sparkline that cannot be read says why in its own cell: the table, already read, stays.
  async function sparkline(item, trending, cell, signal) {
    let history;
    try {
      history = await readSparkline(item, trending, signal);
    } catch (error) {
      if (error.name === "AbortError" || signal.aborted) throw error;
      cell.textContent = `no history: ${error instanceof Unavailable ? error.message : "its answer was unreadable."}`;
      return;
    }
    if (history === null) {
      cell.textContent = "no history";
      return;
    }
    if (signal.aborted) return;
    const chart = new window.Chart(cell.querySelector("canvas"), {
      type: "line",
      data: {
        labels: history.points.map((point) => point.date),
        datasets: [
          {
            data: history.points.map((point) => point.stargazers_count),
            borderColor: COLORS[2],
            borderWidth: 1.5,
            pointRadius: 0,
            spanGaps: false,
          },
        ],
      },
      options: {
        animation: false,
        responsive: false,
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
        scales: { x: { display: false }, y: { display: false } },
      },
    });
    chart.$repository = item.full_name;
    const series = { label: `${isolated(item.full_name)} stars`, data: chart.data.datasets[0].data };
    chart.canvas.setAttribute("aria-label", describe({ labels: chart.data.labels, datasets: [series] }));
    charts.sparklines.push(chart);
  }

  async function readSparkline(item, trending, signal) {
    const path = `repositories/${encodeURIComponent(item.owner_login)}/${encodeURIComponent(item.name)}/history`;
    const response = await get(path, { days: trending.window_days + 1, end_date: trending.end_date }, signal);
    return response.ok ? response.json() : null;
  }

  // -- language shares -----------------------------------------------------------------------------

  function languageLabel(language) {
    return language === null ? "no language" : isolated(language);
  }

  async function showLanguages(signal) {
    const body = await (await get("languages/shares", { days: 30, languages: 6 }, signal)).json();
    if (body.dates.length === 0) return say("languages", "The warehouse holds no observation yet.");
    const observed = body.dates.filter((_, index) => body.series.some((series) => series.star_share[index] !== null));
    if (observed.length === 1) {
      const shares = body.series
        .map((series) => `${languageLabel(series.language)} ${(100 * series.star_share.at(-1)).toFixed(1)} %`)
        .join(", ");
      return say("languages", `One observation so far, on ${observed[0]} (${shares}): shares over time need two.`);
    }
    draw(
      "languages",
      {
        type: "line",
        data: {
          labels: body.dates,
          datasets: body.series.map((series, index) => ({
            label: languageLabel(series.language),
            data: series.star_share.map((share) => (share === null ? null : 100 * share)),
            borderColor: COLORS[index % COLORS.length],
            backgroundColor: COLORS[index % COLORS.length],
            pointRadius: 2,
            spanGaps: false,
          })),
        },
        options: { scales: { y: { min: 0, title: { display: true, text: "% of the day's stars" } } } },
      },
      `Share of the stars per primary language, the ${body.series.length} leading languages of ${body.dates.at(-1)}.`,
      " %",
    );
  }

  // -- load runs -----------------------------------------------------------------------------------

  // "2026-11-14 01:00 UTC" from an API timestamp.
  function utcMinute(timestamp) {
    return `${new Date(timestamp).toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }

  // The sentence under the page's title saying how fresh its figures are: when the last load to finish
  // fetched its data, and whether that load's quality checks passed, in words (not a colour). ``runs`` are
  // the last to finish first (a backfill's logical date is weeks back); the last that passed its checks is
  // asked for when none of them did.
  async function freshness(runs, signal) {
    if (runs.length === 0) return "The warehouse has not been loaded yet: no load run is recorded.";
    const latest = runs[0];
    const fetched = `Latest load: data fetched ${utcMinute(latest.observed_at)}`;
    if (latest.checks_passed_at !== null) return `${fetched}, quality checks passed.`;
    const lastPassed =
      runs.find((run) => run.checks_passed_at !== null) ??
      (await (await get("runs", { sort: "finished", checks_passed: true, limit: 1 }, signal)).json()).items[0];
    return (
      `${fetched}, quality checks not passed (failed or not run yet); ` +
      (lastPassed
        ? `the last load that passed them fetched its data ${utcMinute(lastPassed.observed_at)}.`
        : "no load has passed them yet.")
    );
  }

  // "2026-11-10" to "2026-11-12": ["2026-11-10", "2026-11-11", "2026-11-12"] (UTC days).
  function everyDay(first, last) {
    const days = [];
    for (let day = new Date(`${first}T00:00:00Z`); day <= new Date(`${last}T00:00:00Z`); ) {
      days.push(day.toISOString().slice(0, 10));
      day.setUTCDate(day.getUTCDate() + 1);
    }
    return days;
  }

  async function showRuns(signal) {
    const line = document.getElementById("freshness");
    let body;
    let sentence;
    try {
      body = await (await get("runs", { sort: "finished", limit: RUNS_READ }, signal)).json();
      sentence = await freshness(body.items, signal);
    } catch (error) {
      // Logged out, not allowed, or no warehouse: the freshness is not known, for the section's reason.
      if (error instanceof Unavailable) line.textContent = error.message;
      throw error;
    }
    if (signal.aborted) return undefined;
    line.textContent = sentence;
    if (body.items.length === 0) return say("runs", `No load run recorded yet: trigger ${DAG}.`);
    const days = new Map();
    for (const run of body.items) {
      // The UTC day the run fetched, as its snapshots are dated: a backfill's logical date is weeks before,
      // and a schedule in another zone than UTC gives logical dates whose UTC day is not the local one.
      const day = run.observed_at.slice(0, 10);
      const totals = days.get(day) ?? { rows: 0, requests: 0, runs: 0 };
      totals.rows += run.inserted + run.updated + run.unchanged;
      totals.requests += run.api_requests;
      totals.runs += 1;
      days.set(day, totals);
    }
    // A full read may have stopped inside its oldest day: drawn, that day's few runs would look like a collapse
    // of rows and requests. Left out, unless it is the only day.
    const cut = body.items.length === RUNS_READ ? [...days.keys()].sort()[0] : null;
    if (cut !== null && days.size > 1) days.delete(cut);
    const read = [...days.keys()].sort();
    // Every day from the first to the last, as the other charts: a day without a load is a gap, not left out.
    const labels = everyDay(read[0], read.at(-1));
    const runs = [...days.values()].reduce((total, day) => total + day.runs, 0);
    const gaps = labels.length - read.length;
    let note = `${count(runs, "run")} over ${count(labels.length, "day")} (observation dates, UTC)`;
    if (gaps) note += `; ${count(gaps, "day")} without a load ${gaps === 1 ? "is left as a gap" : "are left as gaps"}`;
    if (cut !== null) {
      note +=
        days.has(cut)
          ? `; the page reads the last ${RUNS_READ} runs, which may hold only part of ${cut}`
          : `; the page reads the last ${RUNS_READ} runs, which hold only part of ${cut}: that day is left out`;
    }
    const value = (key) => labels.map((day) => (days.has(day) ? days.get(day)[key] : null));
    draw(
      "runs",
      {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "rows loaded", data: value("rows"), backgroundColor: COLORS[0] },
            {
              label: "GitHub API requests",
              data: value("requests"),
              backgroundColor: COLORS[1],
              yAxisID: "requests",
            },
          ],
        },
        options: {
          scales: {
            y: { beginAtZero: true, grace: "10%", title: { display: true, text: "rows loaded" } },
            requests: {
              position: "right",
              beginAtZero: true,
              grace: "10%",
              grid: { drawOnChartArea: false },
              title: { display: true, text: "API requests" },
            },
          },
        },
      },
      `${note}.`,
      "",
      "no load",
    );
  }

  // -- wiring --------------------------------------------------------------------------------------

  async function firstRepository(trending, signal) {
    if (trending && trending.items.length) return trending.items[0].full_name;
    const response = await get("repositories", { limit: 1 }, signal);
    const page = await response.json();
    return page.items.length ? page.items[0].full_name : null;
  }

  // The repository a link names after "#": percent-encoded or as typed (a name may hold a "%").
  function fragmentRepository() {
    const fragment = window.location.hash.slice(1);
    try {
      return decodeURIComponent(fragment);
    } catch {
      return fragment;
    }
  }

  // A number field's value as the API's integers take it: the field accepts "1e3" and "1000.0" (1000), which
  // the API refuses as written. Empty or unreadable: no value.
  function wholeNumber(input) {
    return Number.isFinite(input.valueAsNumber) ? String(Math.trunc(input.valueAsNumber)) : "";
  }

  async function start() {
    followTheme();
    noteZone();
    const historyForm = document.getElementById("history-form");
    const repository = document.getElementById("repository");
    const days = document.getElementById("history-days");
    historyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      window.location.hash = repository.value.trim();
      guarded("history", (signal) => showHistory(repository.value, days.value, signal));
    });
    const trendingForm = document.getElementById("trending-form");
    const readTrending = () =>
      guarded("trending", (signal) =>
        showTrending(
          document.getElementById("trending-window").value,
          {
            language: document.getElementById("trending-language").value.trim(),
            topic: document.getElementById("trending-topic").value.trim(),
            min_stars: wholeNumber(document.getElementById("trending-min-stars")),
          },
          signal,
        ),
      );
    trendingForm.addEventListener("submit", (event) => {
      event.preventDefault();
      readTrending();
    });

    // Each section draws as soon as its own answer arrives: a slow one keeps only itself waiting.
    const trending = readTrending();
    const others = [trending, guarded("languages", showLanguages), guarded("runs", showRuns)];
    const wanted = fragmentRepository();
    // Guarded too: logged out or without a warehouse, the section says so, not that the warehouse is empty.
    const history = guarded("history", async (signal) => {
      const initial = wanted || (await firstRepository(await trending, signal));
      // A search typed meanwhile has taken the section over.
      if (signal.aborted) return undefined;
      if (!initial) {
        return say("history", `The warehouse holds no repository yet: run the ${DAG} DAG first.`);
      }
      repository.value = initial;
      return showHistory(initial, days.value, signal);
    });
    await Promise.all([history, ...others]);
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
