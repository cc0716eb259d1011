// Keeps the dashboard current without reloading: polls the JSON the page was drawn
// from (/dashboard.json, the server's kobe.monitor.dashboard.view) and redraws the
// tables in place and the charts with Plotly.react. Every value arrives formatted; this
// only copies text (textContent, never HTML), so nothing from the server runs here.
(function () {
  "use strict";
  const body = document.body;
  const url = body.dataset.json;
  const poll = Number(body.dataset.poll) || 5000;
  const plotConfig = {displayModeBar: false, responsive: true};

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function table(container, t) {
    if (!container) return;
    if (!t.rows.length) {
      container.replaceChildren(el("p", t.empty, "empty"));
      return;
    }
    const head = el("tr");
    t.headers.forEach((h) => head.appendChild(el("th", h)));
    const tbody = el("tbody");
    t.rows.forEach((row) => {
      const tr = el("tr");
      row.forEach((c) => tr.appendChild(el("td", c.text, c.cls || undefined)));
      tbody.appendChild(tr);
    });
    const thead = el("thead");
    thead.appendChild(head);
    const tableNode = el("table");
    tableNode.append(thead, tbody);
    container.replaceChildren(tableNode);
  }

  function text(id, value, cls) {
    const node = document.getElementById(id);
    if (!node) return;
    node.textContent = value;
    if (cls !== undefined) node.className = cls;
  }

  function shadow(summary) {
    const node = document.getElementById("shadow-summary");
    if (!summary) {
      node.replaceChildren(el("p", "no shadow check yet (after the first session)", "empty"));
      return;
    }
    const parts = [el("p", summary.figures)];
    summary.breaches.forEach((b) => parts.push(el("p", b, "bad")));
    if (!summary.breaches.length) parts.push(el("p", "within bounds", "ok"));
    node.replaceChildren(...parts);
  }

  function draw(view) {
    text("headline", view.headline.text, view.headline.cls);
    text("as-of", view.as_of);
    view.cards.forEach((c) => {
      const card = document.getElementById("card-" + c.id);
      if (!card) return;
      card.querySelector("span").textContent = c.label;
      const value = card.querySelector("b");
      value.textContent = c.value;
      value.className = c.cls;
    });
    for (const [name, t] of Object.entries(view.tables)) {
      if (name === "shadow") continue;
      table(document.getElementById(name === "drift" ? "drift-rows" : name), t);
    }
    shadow(view.shadow);
    const rows = document.getElementById("shadow-rows");
    if (view.shadow) table(rows, view.tables.shadow); else rows.replaceChildren();
    text("drift-session", view.drift_session);
    text("expected-note", view.expected_note);
    text("footer", view.footer);
    if (window.Plotly) {
      for (const [name, figure] of Object.entries(view.charts)) {
        const div = document.getElementById("chart-" + name);
        if (div) window.Plotly.react(div, figure.data, figure.layout, plotConfig);
      }
    }
  }

  async function refresh() {
    try {
      const response = await fetch(url, {cache: "no-store", headers: {Accept: "application/json"}});
      if (!response.ok) throw new Error("HTTP " + response.status);
      draw(await response.json());
      text("poll-state", "live, updated " + new Date().toLocaleTimeString(), "");
    } catch (err) {
      // The runner may be restarting: say so and keep polling.
      text("poll-state", "not updating (" + err.message + "), retrying", "bad");
    } finally {
      window.setTimeout(refresh, poll);
    }
  }

  draw(JSON.parse(document.getElementById("view").textContent));
  window.setTimeout(refresh, poll);
})();
