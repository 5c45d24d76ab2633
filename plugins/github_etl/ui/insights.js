// The GitHub insights page: reads the repository API beside it with the Airflow session's cookie and
// draws its answers with Chart.js. Every chart object is kept in window.githubEtlCharts, so a test (or a
// curious user's console) can read exactly what was drawn.
"use strict";

(() => {
  // The page is served at <prefix>/ui/; the API lives at <prefix>/.
  const API = new URL("../", window.location.href);
  const COLORS = ["#017cee", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#1098ad", "#e03131", "#5c940d"];
  const TRENDING_ROWS = 10;
  const charts = { history: null, sparklines: [], languages: null, runs: null };
  window.githubEtlCharts = charts;

  class Unavailable extends Error {}

  async function get(path, params = {}) {
    const url = new URL(path, API);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) throw new Unavailable("Log in to Airflow to see the warehouse.");
    if (response.status === 403) {
      throw new Unavailable("Airflow does not let this user read the github_repositories DAG, whose data this page shows.");
    }
    if (response.status === 503) {
      const reason = await response.json().catch(() => ({}));
      throw new Unavailable(reason.detail ?? "The warehouse is unavailable right now; reload in a moment.");
    }
    if (response.status !== 404 && !response.ok) {
      throw new Unavailable(`The API answered ${response.status} to ${url.pathname}.`);
    }
    return response;
  }

  // A section shows either its chart or a sentence saying why there is none, never an empty chart.
  function say(section, sentence) {
    document.getElementById(`${section}-message`).textContent = sentence;
    const box = document.getElementById(`${section}-chart-box`);
    if (box) box.hidden = true;
    if (charts[section] && !Array.isArray(charts[section])) {
      charts[section].destroy();
      charts[section] = null;
    }
  }

  function draw(section, config, note = "") {
    document.getElementById(`${section}-message`).textContent = note;
    document.getElementById(`${section}-chart-box`).hidden = false;
    if (charts[section]) charts[section].destroy();
    config.options = { animation: false, maintainAspectRatio: false, ...config.options };
    charts[section] = new window.Chart(document.getElementById(`${section}-chart`), config);
    return charts[section];
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

  function guarded(section, work) {
    return work().catch((error) => say(section, error instanceof Unavailable ? error.message : String(error)));
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

  async function showHistory(fullName, days) {
    const { owner, name } = repositoryOf(fullName);
    // "." and ".." name no repository (GitHub refuses them), and in the URL they would be steps to another path.
    if ([owner, name].some((part) => !part || part === "." || part === "..")) {
      return say("history", "Type a repository as owner/name, e.g. apache/airflow.");
    }
    const path = `repositories/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/history`;
    const response = await get(path, { days });
    if (response.status === 404) {
      return say("history", `No repository ${isolated(`${owner}/${name}`)} in the warehouse.`);
    }
    const body = await response.json();
    const named = isolated(body.full_name);
    const observed = body.points.filter((point) => point.stargazers_count !== null);
    if (observed.length === 0) {
      return say("history", `${named} is in the warehouse but has no observation yet.`);
    }
    if (observed.length === 1) {
      const [only] = observed;
      return say(
        "history",
        `${named} was observed once, on ${only.date}, with ${only.stargazers_count.toLocaleString()} stars: ` +
          "a history needs a second observation.",
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
  async function showTrending(windowDays, filters) {
    const table = document.getElementById("trending-table");
    const body = await (await get("trending", { window_days: windowDays, ...filters, limit: TRENDING_ROWS })).json();
    charts.sparklines.forEach((chart) => chart.destroy());
    charts.sparklines = [];
    const message = document.getElementById("trending-message");
    if (body.items.length === 0) {
      table.hidden = true;
      message.textContent =
        body.compared === null ? body.basis : `${body.basis} None matches the filters: no repository to list.`;
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
        guarded("history", () => showHistory(item.full_name, document.getElementById("history-days").value));
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
      canvas.setAttribute("aria-label", `${isolated(item.full_name)} stars over the window`);
      spark.append(canvas);
    });
    table.hidden = false;
    await Promise.all(body.items.map((item, index) => sparkline(item, body, rows.rows[index].cells[5])));
    return body;
  }

  async function sparkline(item, trending, cell) {
    const path = `repositories/${encodeURIComponent(item.owner_login)}/${encodeURIComponent(item.name)}/history`;
    const response = await get(path, { days: trending.window_days + 1, end_date: trending.end_date });
    if (!response.ok) {
      cell.textContent = "no history";
      return;
    }
    const history = await response.json();
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
    charts.sparklines.push(chart);
  }

  // -- language shares -----------------------------------------------------------------------------

  function languageLabel(language) {
    return language === null ? "no language" : isolated(language);
  }

  async function showLanguages() {
    const body = await (await get("languages/shares", { days: 30, languages: 6 })).json();
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
    );
  }

  // -- load runs -----------------------------------------------------------------------------------

  async function showRuns() {
    const body = await (await get("runs", { limit: 500 })).json();
    if (body.items.length === 0) return say("runs", "No load run recorded yet: trigger github_repositories.");
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
    const labels = [...days.keys()].sort();
    draw(
      "runs",
      {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "rows loaded", data: labels.map((day) => days.get(day).rows), backgroundColor: COLORS[0] },
            {
              label: "GitHub API requests",
              data: labels.map((day) => days.get(day).requests),
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
      `${count(body.items.length, "run")} over ${count(labels.length, "day")} (observation dates, UTC).`,
    );
  }

  // -- wiring --------------------------------------------------------------------------------------

  async function firstRepository(trending) {
    if (trending && trending.items.length) return trending.items[0].full_name;
    const response = await get("repositories", { limit: 1 });
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

  async function start() {
    const historyForm = document.getElementById("history-form");
    const repository = document.getElementById("repository");
    const days = document.getElementById("history-days");
    historyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      window.location.hash = repository.value.trim();
      guarded("history", () => showHistory(repository.value, days.value));
    });
    const trendingForm = document.getElementById("trending-form");
    const readTrending = () =>
      guarded("trending", () =>
        showTrending(document.getElementById("trending-window").value, {
          language: document.getElementById("trending-language").value.trim(),
          topic: document.getElementById("trending-topic").value.trim(),
          min_stars: document.getElementById("trending-min-stars").value,
        }),
      );
    trendingForm.addEventListener("submit", (event) => {
      event.preventDefault();
      readTrending();
    });

    const [trending] = await Promise.all([readTrending(), guarded("languages", showLanguages), guarded("runs", showRuns)]);
    const wanted = fragmentRepository();
    // Guarded too: logged out or without a warehouse, the section says so, not that the warehouse is empty.
    await guarded("history", async () => {
      const initial = wanted || (await firstRepository(trending));
      if (!initial) {
        return say("history", "The warehouse holds no repository yet: run the github_repositories DAG first.");
      }
      repository.value = initial;
      return showHistory(initial, days.value);
    });
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
