// The fraudscore web page: manual entry, sample transactions, CSV upload. Plain ES module, no build
// step; it talks to the same JSON API as any client (/ui/config, /ui/samples, /predict).

const $ = (sel) => document.querySelector(sel);
let config = null;
let samples = { normal: [], fraud: [] };
const sampleIndex = { normal: 0, fraud: 0 };

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({ detail: `HTTP ${res.status}` }));
  if (!res.ok) {
    const d = body.detail;
    const msg = Array.isArray(d)
      ? d.map((x) => `${(x.loc || []).join('.')}: ${x.msg}`).join('; ')
      : String(d ?? `HTTP ${res.status}`);
    throw new Error(msg);
  }
  return body;
}

function fmt(x) {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1000 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(4);
}

const RISK_TEXT = { low: 'Low risk', moderate: 'Moderate risk', very_high: 'Very high risk' };

function buildFields() {
  const box = $('#fields');
  box.replaceChildren();
  for (const f of config.features) {
    const label = document.createElement('label');
    label.textContent = f;
    const input = document.createElement('input');
    input.type = 'text';
    input.inputMode = 'decimal';
    input.name = f;
    input.id = `f-${f}`;
    input.autocomplete = 'off';
    input.value = '0';
    label.append(input);
    box.append(label);
  }
}

function fillForm(values) {
  config.features.forEach((f, j) => {
    // 9 significant digits round-trip any float32 (what the model reads) without float64 noise.
    $(`#f-${CSS.escape(f)}`).value = String(Number(Number(values[j]).toPrecision(9)));
  });
}

function readForm() {
  const tx = {};
  const bad = [];
  for (const f of config.features) {
    const input = $(`#f-${CSS.escape(f)}`);
    const text = input.value.trim();
    const v = Number(text);
    const ok = text !== '' && Number.isFinite(v);
    input.classList.toggle('bad', !ok);
    if (!ok) bad.push(f);
    tx[f] = v;
  }
  if (bad.length > 0) throw new Error(`Enter a number for ${bad.join(', ')}`);
  return tx;
}

function showError(el, err) {
  el.textContent = err ? String(err.message ?? err) : '';
  el.hidden = !err;
}

function showResult(p) {
  const thr = p.threshold;
  $('#result').hidden = false;
  const decision = $('#decision');
  decision.textContent = p.is_fraud ? 'FRAUD' : 'LEGIT';
  decision.className = `decision ${p.is_fraud ? 'fraud' : 'legit'}`;
  const risk = $('#risk');
  risk.textContent = RISK_TEXT[p.risk_level] ?? p.risk_level;
  risk.className = `risk ${p.risk_level}`;
  $('#score-text').textContent =
    `reconstruction error ${fmt(p.reconstruction_error)} vs threshold ${fmt(thr)} (${fmt(p.reconstruction_error / thr)}× the threshold) · ${p.engine} · model v${p.model_version}`;
  // The gauge spans up to 3x the threshold (or the score, if higher), so "very high" (> 2x) shows.
  const max = Math.max(3 * thr, p.reconstruction_error * 1.05);
  const fill = $('#gauge-fill');
  fill.style.width = `${(100 * p.reconstruction_error) / max}%`;
  fill.className = `gauge-fill ${p.risk_level}`;
  $('#gauge-threshold').style.left = `${(100 * thr) / max}%`;
  $('#gauge-thr-label').textContent = `threshold ${fmt(thr)}`;
  $('#gauge-max').textContent = fmt(max);
  const chart = $('#chart');
  chart.replaceChildren();
  const top = p.top_features;
  const maxShare = Math.max(...top.map((t) => t.error_share), 1e-12);
  for (const t of top) {
    const name = document.createElement('span');
    name.textContent = t.name;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${(100 * t.error_share) / maxShare}%`;
    bar.title = `${t.name}: ${(100 * t.error_share).toFixed(1)}% of the squared error`;
    const val = document.createElement('span');
    val.className = 'val';
    val.textContent = `${(100 * t.error_share).toFixed(1)}%`;
    chart.append(name, bar, val);
  }
}

async function scoreTransaction(tx) {
  // top = every feature, so the chart shows the whole error breakdown.
  return api(`/predict?top=${config.features.length}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ transaction: tx }),
  });
}

async function onSubmit(ev) {
  ev.preventDefault();
  const btn = $('#submit');
  btn.disabled = true;
  try {
    showError($('#form-error'), null);
    showResult(await scoreTransaction(readForm()));
  } catch (e) {
    showError($('#form-error'), e);
  } finally {
    btn.disabled = false;
  }
}

function loadSample(kind) {
  const list = samples[kind];
  if (list.length === 0) return;
  fillForm(list[sampleIndex[kind]++ % list.length]);
  $('#form').requestSubmit();
}

// ---- CSV ----------------------------------------------------------------------------------------

/** Splits CSV text into rows of cells (RFC 4180 quotes, CRLF or LF). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      cell = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

let csvRows = [];

async function onCsv() {
  const file = $('#csv').files[0];
  if (!file) return;
  const errEl = $('#csv-error');
  showError(errEl, null);
  $('#csv-summary').textContent = `Reading ${file.name}…`;
  try {
    const cells = parseCsv(await file.text());
    if (cells.length < 2) throw new Error(`${file.name}: expected a header and at least one row`);
    const header = cells[0].map((h) => h.trim());
    const missing = config.features.filter((f) => !header.includes(f));
    if (missing.length > 0)
      throw new Error(`${file.name}: the header lacks the model's column(s) ${missing.join(', ')}`);
    const cols = config.features.map((f) => header.indexOf(f));
    const classCol = header.indexOf('Class');
    csvRows = cells.slice(1).map((r, i) => {
      const values = cols.map((c) => Number(r[c]));
      const bad = values.findIndex((v, j) => !Number.isFinite(v) || (r[cols[j]] ?? '').trim() === '');
      if (bad >= 0)
        throw new Error(
          `${file.name}, line ${i + 2}: column ${config.features[bad]} is '${r[cols[bad]] ?? ''}', not a number`,
        );
      return { values, label: classCol >= 0 ? r[classCol] : null };
    });
    const preds = [];
    for (let at = 0; at < csvRows.length; at += config.maxInstances) {
      const chunk = csvRows.slice(at, at + config.maxInstances).map((r) => r.values);
      $('#csv-summary').textContent = `Scoring rows ${at + 1}–${at + chunk.length} of ${csvRows.length}…`;
      const res = await api('/predict', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: chunk }),
      });
      preds.push(...res.predictions);
    }
    csvRows.forEach((r, i) => {
      r.prediction = preds[i];
    });
    renderCsv(file.name, classCol >= 0);
  } catch (e) {
    $('#csv-summary').textContent = '';
    showError(errEl, e);
  }
}

const MAX_TABLE_ROWS = 500;

function renderCsv(name, hasClass) {
  const flagged = csvRows.filter((r) => r.prediction.is_fraud).length;
  const shown = Math.min(csvRows.length, MAX_TABLE_ROWS);
  $('#csv-summary').textContent =
    `${name}: ${csvRows.length} rows scored, ${flagged} flagged as fraud (${((100 * flagged) / csvRows.length).toFixed(2)}%)` +
    (shown < csvRows.length ? `; the table shows the first ${shown}` : '');
  const table = $('#csv-table');
  const head = ['#', 'Decision', 'Risk', 'Reconstruction error', ...(hasClass ? ['Class'] : []), 'Top feature'];
  const tr = document.createElement('tr');
  for (const h of head) {
    const th = document.createElement('th');
    th.textContent = h;
    tr.append(th);
  }
  table.tHead.replaceChildren(tr);
  const body = document.createElement('tbody');
  csvRows.slice(0, shown).forEach((r, i) => {
    const p = r.prediction;
    const row = document.createElement('tr');
    row.className = p.is_fraud ? 'fraud' : 'legit';
    row.dataset.index = String(i);
    const cells = [
      String(i + 1),
      p.is_fraud ? 'FRAUD' : 'legit',
      RISK_TEXT[p.risk_level],
      fmt(p.reconstruction_error),
      ...(hasClass ? [r.label] : []),
      p.top_features[0]?.name ?? '',
    ];
    cells.forEach((c, k) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (k === 1) td.className = 'decision-cell';
      row.append(td);
    });
    row.addEventListener('click', () => {
      fillForm(r.values);
      $('#form').requestSubmit();
      $('#result').scrollIntoView({ behavior: 'smooth' });
    });
    body.append(row);
  });
  table.tBodies[0].replaceWith(body);
  table.hidden = false;
  drawHistogram(
    csvRows.map((r) => r.prediction.reconstruction_error),
    config.threshold,
  );
}

function drawHistogram(scores, thr) {
  const svg = $('#histogram');
  const W = svg.clientWidth || 800;
  const H = 180;
  const pad = 24;
  // Log-spaced bins: scores span orders of magnitude, and frauds sit in the long right tail.
  const lo = Math.log10(Math.max(Math.min(...scores), 1e-4));
  const hi = Math.log10(Math.max(...scores, thr * 1.01));
  const bins = 40;
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const s of scores)
    counts[Math.min(bins - 1, Math.max(0, Math.floor((Math.log10(Math.max(s, 1e-4)) - lo) / width)))]++;
  const maxC = Math.max(...counts);
  const x = (v) => pad + ((v - lo) / (hi - lo || 1)) * (W - 2 * pad);
  const parts = [];
  counts.forEach((c, k) => {
    const h = maxC ? (c / maxC) * (H - 2 * pad) : 0;
    const x0 = x(lo + k * width);
    const over = lo + k * width >= Math.log10(thr);
    parts.push(
      `<rect class="bin${over ? ' over' : ''}" x="${x0 + 0.5}" y="${H - pad - h}" width="${Math.max(1, x(lo + (k + 1) * width) - x0 - 1)}" height="${h}"><title>${c} rows</title></rect>`,
    );
  });
  const tx = x(Math.log10(thr));
  parts.push(`<line class="thr" x1="${tx}" x2="${tx}" y1="${pad / 2}" y2="${H - pad}"></line>`);
  parts.push(`<text x="${tx + 4}" y="${pad}">threshold ${fmt(thr)}</text>`);
  parts.push(`<text x="${pad}" y="${H - 6}">${fmt(10 ** lo)}</text>`);
  parts.push(`<text x="${W - pad}" y="${H - 6}" text-anchor="end">${fmt(10 ** hi)} (log scale)</text>`);
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.innerHTML = parts.join('');
  svg.hidden = false;
}

async function main() {
  try {
    config = await api('/ui/config');
  } catch (e) {
    $('#model-info').textContent = `The model is not available: ${e.message}`;
    return;
  }
  $('#model-info').textContent =
    `Model ${config.model.name} v${config.model.version} · ${config.features.length} features · threshold ${fmt(config.threshold)}`;
  buildFields();
  samples = await api('/ui/samples').catch(() => ({ normal: [], fraud: [] }));
  $('#sample-normal').disabled = samples.normal.length === 0;
  $('#sample-fraud').disabled = samples.fraud.length === 0;
  $('#sample-normal').addEventListener('click', () => loadSample('normal'));
  $('#sample-fraud').addEventListener('click', () => loadSample('fraud'));
  $('#clear').addEventListener('click', () => {
    fillForm(config.features.map(() => 0));
    $('#result').hidden = true;
  });
  $('#form').addEventListener('submit', onSubmit);
  $('#csv').addEventListener('change', onCsv);
  document.body.dataset.ready = 'true';
}

main();
