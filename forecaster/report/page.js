"use strict";
// forecaster's report: the table of every series, sorted, searched and paged here, over the data the page embeds
// (the script element "report-data"); a row's drawing is made as SVG when the row is shown, so that a page of
// 50,000 series costs its data, not 50,000 drawings. Text reaches the page through textContent and attributes only.
(function () {
  const PAGE_ROWS = 50;
  const SVG = "http://www.w3.org/2000/svg";
  const PANEL = { width: 270, height: 104, left: 46, right: 8, top: 14, bottom: 16 };
  const NARROW = 190; // a panel's width where a row has several (a backtest's folds)
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const rows = data.rows;
  const columns = data.columns;
  const table = document.getElementById("series-table");
  const body = table.querySelector("tbody");
  const search = document.getElementById("series-search");
  const status = document.getElementById("series-status");
  const previous = document.getElementById("page-previous");
  const next = document.getElementById("page-next");
  const where = document.getElementById("page-where");
  const heads = Array.from(table.querySelectorAll("thead th[data-column]"));
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  let sortColumn = data.sort[0];
  let descending = data.sort[1];
  let order = [];
  let shown = [];
  let page = 0;
  let searchable = null;

  function compare(a, b) {
    const x = rows[a][0][sortColumn];
    const y = rows[b][0][sortColumn];
    if (x === null || y === null) {
      return x === y ? a - b : x === null ? 1 : -1; // missing values last, whichever the direction
    }
    const sign = descending ? -1 : 1;
    const found = typeof x === "number" ? x - y : collator.compare(x, y);
    return found === 0 ? a - b : sign * found;
  }

  function sortRows() {
    order = rows.map((_, index) => index).sort(compare);
    heads.forEach((head) => {
      const column = Number(head.dataset.column);
      head.setAttribute("aria-sort", column === sortColumn ? (descending ? "descending" : "ascending") : "none");
    });
  }

  function filterRows() {
    const query = search.value.trim().toLowerCase();
    if (!query) {
      shown = order;
      return;
    }
    if (searchable === null) {
      searchable = rows.map((row) => data.searched.map((column) => row[1][column]).join("\u0000").toLowerCase());
    }
    shown = order.filter((index) => searchable[index].includes(query));
  }

  function element(name, attributes, namespace) {
    const made = namespace ? document.createElementNS(namespace, name) : document.createElement(name);
    for (const [key, value] of Object.entries(attributes || {})) {
      made.setAttribute(key, String(value));
    }
    return made;
  }

  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 4 });

  function figure(value) {
    return compact.format(value); // 6183000 as 6.183M: an axis label in the drawing's margin
  }

  function path(values, offset, x, y) {
    let text = "";
    let pen = "M";
    values.forEach((value, k) => {
      if (value === null) {
        pen = "M";
        return;
      }
      text += pen + x(offset + k).toFixed(1) + " " + y(value).toFixed(1);
      pen = "L";
    });
    return text;
  }

  function band(lower, upper, offset, x, y) {
    let text = "";
    upper.forEach((value, k) => {
      text += (k ? "L" : "M") + x(offset + k).toFixed(1) + " " + y(value).toFixed(1);
    });
    for (let k = lower.length - 1; k >= 0; k -= 1) {
      text += "L" + x(offset + k).toFixed(1) + " " + y(lower[k]).toFixed(1);
    }
    return text + "Z";
  }

  function drawPanel(svg, panel, number, width) {
    const g = element("g", { transform: "translate(" + number * width + ",0)" }, SVG);
    const inner = width - PANEL.left - PANEL.right;
    const tall = PANEL.height - PANEL.top - PANEL.bottom;
    let low = Infinity;
    let high = -Infinity;
    const take = (value) => {
      if (value !== null) {
        low = Math.min(low, value);
        high = Math.max(high, value);
      }
    };
    panel.l.forEach((line) => line[2].forEach(take));
    panel.b.forEach((area) => {
      area[2].forEach(take);
      area[3].forEach(take);
    });
    if (!(low <= high)) {
      low = 0;
      high = 1;
    }
    const spread = high - low || Math.abs(high) || 1;
    const x = (k) => PANEL.left + (panel.n > 1 ? (k * inner) / (panel.n - 1) : inner / 2);
    const y = (value) => PANEL.top + tall - ((value - low + spread * 0.05) / (spread * 1.1)) * tall;
    g.append(element("rect", { class: "frame", x: PANEL.left, y: PANEL.top, width: inner, height: tall }, SVG));
    panel.b.forEach((area) => {
      g.append(element("path", { class: "band band-" + area[0], d: band(area[2], area[3], area[1], x, y) }, SVG));
    });
    if (panel.o > 0 && panel.o < panel.n) {
      const at = x(panel.o - 0.5).toFixed(1);
      g.append(element("line", { class: "origin", x1: at, x2: at, y1: PANEL.top, y2: PANEL.top + tall }, SVG));
    }
    panel.l.forEach((line) => {
      g.append(element("path", { class: "line line-" + data.lines[line[0]][0], d: path(line[2], line[1], x, y) }, SVG));
    });
    const label = (text, attributes) => {
      const made = element("text", attributes, SVG);
      made.textContent = text;
      g.append(made);
    };
    label(figure(high), { x: PANEL.left - 3, y: PANEL.top + 8, "text-anchor": "end" });
    label(figure(low), { x: PANEL.left - 3, y: PANEL.top + tall, "text-anchor": "end" });
    label(panel.a[0], { x: PANEL.left, y: PANEL.height - 3 });
    label(panel.a[2], { x: width - PANEL.right, y: PANEL.height - 3, "text-anchor": "end" });
    if (panel.c) {
      label(panel.c, { x: PANEL.left, y: PANEL.top - 3 });
    }
    svg.append(g);
  }

  function described(name, panels) {
    return name + ": " + panels.map((panel) => {
      const said = panel.l.map((line) => {
        const values = line[2].filter((value) => value !== null);
        const what = data.lines[line[0]][1];
        return values.length ? what + " from " + figure(values[0]) + " to " + figure(values[values.length - 1]) : what;
      });
      return (panel.c ? panel.c + ", " : "") + panel.a[0] + " to " + panel.a[2] + ": " + said.join("; ");
    }).join(". ");
  }

  function drawing(index) {
    const row = rows[index];
    const panels = row[2];
    const width = panels.length > 1 ? NARROW : PANEL.width;
    const svg = element("svg", {
      class: "drawing",
      role: "img",
      width: width * panels.length,
      height: PANEL.height,
      viewBox: "0 0 " + width * panels.length + " " + PANEL.height,
    }, SVG);
    svg.setAttribute("aria-label", described(row[1][data.header], panels));
    panels.forEach((panel, number) => drawPanel(svg, panel, number, width));
    return svg;
  }

  function showPage() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_ROWS));
    page = Math.min(Math.max(page, 0), pages - 1);
    const first = page * PAGE_ROWS;
    const made = shown.slice(first, first + PAGE_ROWS).map((index) => {
      const row = element("tr", { id: "row-" + index });
      columns.forEach((column, number) => {
        const cell = element(number === data.header ? "th" : "td", number === data.header ? { scope: "row", tabindex: -1 } : {});
        if (column.numeric) {
          cell.className = "number";
        }
        cell.textContent = rows[index][1][number];
        row.append(cell);
      });
      const place = element("td", { class: "drawing" });
      place.append(drawing(index));
      row.append(place);
      return row;
    });
    body.replaceChildren(...made);
    const direction = descending ? columns[sortColumn].down : columns[sortColumn].up;
    const range = shown.length ? (first + 1).toLocaleString() + "\u2013" + (first + made.length).toLocaleString() : "none";
    status.textContent = "Showing " + range + " of " + shown.length.toLocaleString() + " series" +
      (shown.length < rows.length ? " matching \u201c" + search.value.trim() + "\u201d (of " + rows.length.toLocaleString() + ")" : "") +
      ", by " + columns[sortColumn].label + ", " + direction + ".";
    where.textContent = "Page " + (page + 1).toLocaleString() + " of " + pages.toLocaleString();
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function reveal(index) {
    if (!(index >= 0 && index < rows.length)) {
      return;
    }
    let position = shown.indexOf(index);
    if (position < 0) {
      search.value = "";
      filterRows();
      position = shown.indexOf(index);
    }
    page = Math.floor(position / PAGE_ROWS);
    showPage();
    const row = document.getElementById("row-" + index);
    body.querySelectorAll("tr.target").forEach((marked) => marked.classList.remove("target"));
    row.classList.add("target");
    row.querySelector("th").focus();
  }

  function followHash() {
    const found = /^#row-(\d+)$/.exec(window.location.hash);
    if (found) {
      reveal(Number(found[1]));
    }
  }

  heads.forEach((head) => {
    head.querySelector("button").addEventListener("click", () => {
      const column = Number(head.dataset.column);
      descending = column === sortColumn ? !descending : columns[column].first === "descending";
      sortColumn = column;
      sortRows();
      filterRows();
      page = 0;
      showPage();
    });
  });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      filterRows();
      page = 0;
      showPage();
    }, 120);
  });
  previous.addEventListener("click", () => {
    page -= 1;
    showPage();
  });
  next.addEventListener("click", () => {
    page += 1;
    showPage();
  });
  window.addEventListener("hashchange", followHash);
  document.getElementById("series-controls").hidden = false;
  document.getElementById("series-pager").hidden = false;
  sortRows();
  filterRows();
  showPage();
  followHash();
  // the browser's own move to the address's #fragment, once the page is loaded, takes the focus back to the page:
  // give it to the row again
  window.addEventListener("load", followHash);
})();
