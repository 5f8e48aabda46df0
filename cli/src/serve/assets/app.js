// The page of `tl serve`: a timeline picker, a scrubber over the chosen
// timeline's line of states and its activity histogram, the tree at
// the chosen instant, a file's content or diff, its versions, restore when the
// server allows it, live updates over /api/events. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 1000;      // checkpoints per request (the API's maximum)
const MAX_PAGES = 20;   // at most 20,000 checkpoints on the scrubber

const view = {
  checkpoints: [],      // oldest first
  gaps: [],
  activity: null,
  timeline: undefined,  // the line on the scrubber: a name, "" for every timeline
  at: null,             // the checkpoint shown (an object of /api/checkpoints)
  path: null,           // the file shown
  versions: [],
  allowRestore: false,
};

function say(text, isError) {
  const m = $("message");
  m.textContent = text || "";
  m.className = isError ? "error" : "";
}

async function api(url, opts) {
  const r = await fetch(url, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
const getJson = async (url) => (await api(url)).json();
const q = (o) => Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== "")
  .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");

function when(cp) {
  const d = new Date(cp.time);
  return d.toLocaleString();
}

// The picker: every live timeline (the current one first chosen) and, last,
// every timeline's states in log order.
async function loadTimelines() {
  const list = await getJson("/api/timelines");
  const sel = $("timelines");
  sel.textContent = "";
  for (const t of list) {
    const opt = document.createElement("option");
    opt.value = t.name;
    opt.textContent = t.name + (t.current ? " (current)" : "") + " · " + t.states + " states";
    sel.appendChild(opt);
  }
  const every = document.createElement("option");
  every.value = "";
  every.textContent = "every timeline (log order)";
  sel.appendChild(every);
  const known = view.timeline === "" || list.some((t) => t.name === view.timeline);
  if (!known) {
    const current = list.find((t) => t.current);
    view.timeline = current ? current.name : "";
  }
  sel.value = view.timeline;
}

async function loadCheckpoints() {
  const all = [];
  let gaps = [];
  const timeline = view.timeline;
  for (let page = 0, offset = 0; page < MAX_PAGES; page++) {
    const r = await getJson("/api/checkpoints?" + q({ offset, limit: PAGE, timeline }));
    all.push(...r.checkpoints);
    if (page === 0) gaps = r.gaps;
    if (r.next_offset === null || r.next_offset === undefined) break;
    offset = r.next_offset;
  }
  all.reverse();
  view.checkpoints = all;
  view.gaps = gaps.slice().reverse();
  const s = $("scrubber");
  s.max = Math.max(0, all.length - 1);
  view.activity = all.length ? await getJson("/api/activity?" + q({ buckets: 200, timeline })) : null;
  drawHistogram();
}

function drawHistogram() {
  const c = $("histogram");
  const w = c.clientWidth || 1000;
  c.width = w;
  const g = c.getContext("2d");
  g.clearRect(0, 0, w, c.height);
  const a = view.activity;
  if (!a) return;
  const span = a.to_ns - a.from_ns || 1;
  const x = (ns) => ((ns - a.from_ns) / span) * w;
  // Gaps first, as red bands: events may be missing there.
  g.fillStyle = "rgba(229,57,53,0.35)";
  for (const gap of a.gaps) {
    const x0 = Math.max(0, x(gap.from_ns));
    const x1 = Math.min(w, x(gap.to_ns));
    g.fillRect(x0, 0, Math.max(2, x1 - x0), c.height);
  }
  const max = Math.max(1, ...a.buckets.map((b) => b.changes));
  const bw = w / a.buckets.length;
  g.fillStyle = "#1e88e5";
  a.buckets.forEach((b, i) => {
    if (!b.checkpoints) return;
    const h = Math.max(2, (Math.log1p(b.changes) / Math.log1p(max)) * (c.height - 4));
    g.fillRect(i * bw, c.height - h, Math.max(1, bw - 1), h);
  });
  if (view.at) {
    g.fillStyle = "#000";
    g.fillRect(x(view.at.time_ns) - 1, 0, 2, c.height);
  }
}

function scrubTo(index) {
  const cp = view.checkpoints[index];
  if (!cp) return;
  view.at = cp;
  $("scrubber").value = index;
  const msg = cp.message ? " — " + cp.message : "";
  $("instant").textContent = cp.id + "  " + when(cp) + "  " + cp.kind + " on " + cp.timeline +
    "  +" + cp.added + " ~" + cp.modified + " -" + cp.deleted + msg;
  drawHistogram();
  loadTree().then(() => view.path ? showFile() : null).catch((e) => say(e.message, true));
}

async function loadTree() {
  const r = await getJson("/api/tree?" + q({ at: view.at.id }));
  const ul = $("tree");
  ul.textContent = "";
  const filter = $("filter").value;
  for (const e of r.entries) {
    if (filter && !e.path.includes(filter)) continue;
    const li = document.createElement("li");
    li.textContent = e.path;
    li.dataset.path = e.path;
    li.title = e.size + " bytes, " + e.mode;
    if (e.path === view.path) li.className = "sel";
    li.onclick = () => openFile(e.path);
    ul.appendChild(li);
  }
  if (r.truncated) say("showing " + r.entries.length + " of " + r.total + " files");
  // For benches/serve/page.py: when the first tree is on the page.
  if (!performance.getEntriesByName("tree-shown").length) performance.mark("tree-shown");
}

async function openFile(path) {
  view.path = path;
  for (const li of $("tree").children) li.className = li.dataset.path === path ? "sel" : "";
  $("file-name").textContent = path;
  $("restore").hidden = !view.allowRestore;
  await loadVersions();
  await showFile();
}

async function loadVersions() {
  const ol = $("versions");
  ol.textContent = "";
  const sel = $("compare");
  while (sel.options.length > 2) sel.remove(2);
  let r;
  try { r = await getJson("/api/history?" + q({ path: view.path })); } catch (e) { say(e.message, true); return; }
  view.versions = r.versions;
  // Newest first; a gap between two versions is shown where it falls.
  const gaps = view.gaps.slice();
  r.versions.forEach((v) => {
    while (gaps.length && gaps[gaps.length - 1].from_ns >= v.checkpoint.time_ns) {
      const gap = gaps.pop();
      const li = document.createElement("li");
      li.className = "gap";
      li.textContent = "gap " + new Date(gap.from).toLocaleString() + " – " +
        new Date(gap.to).toLocaleString() + ": events may be missing (" + gap.reason + ")";
      ol.appendChild(li);
    }
    const li = document.createElement("li");
    li.dataset.id = v.checkpoint.id;
    const label = document.createElement("div");
    label.textContent = v.status + " " + v.label;
    const t = document.createElement("div");
    t.className = "when";
    t.textContent = v.checkpoint.id + " · " + when(v.checkpoint) + " · " + v.checkpoint.kind;
    li.append(label, t);
    li.onclick = () => {
      const i = view.checkpoints.findIndex((c) => c.id === v.checkpoint.id);
      if (i >= 0) scrubTo(i);
    };
    ol.appendChild(li);
    const opt = document.createElement("option");
    opt.value = v.checkpoint.id;
    opt.textContent = "version " + v.checkpoint.id + " (" + when(v.checkpoint) + ")";
    sel.appendChild(opt);
  });
}

function renderDiff(text) {
  const pre = $("content");
  pre.textContent = "";
  if (!text) { pre.textContent = "(no differences)"; return; }
  for (const line of text.split("\n")) {
    const span = document.createElement("span");
    span.textContent = line + "\n";
    if (line.startsWith("+") && !line.startsWith("+++")) span.className = "add";
    else if (line.startsWith("-") && !line.startsWith("---")) span.className = "del";
    else if (line.startsWith("@@")) span.className = "hunk";
    pre.appendChild(span);
  }
}

async function showFile() {
  if (!view.path || !view.at) return;
  for (const li of $("versions").children) {
    li.classList.toggle("sel", li.dataset.id === view.at.id);
  }
  const other = $("compare").value;
  const pre = $("content");
  try {
    if (other) {
      const newest = view.checkpoints[view.checkpoints.length - 1];
      const otherId = other === "now" ? newest.id : other;
      const text = await (await api("/api/diff?" + q({ from: view.at.id, to: otherId, path: view.path }))).text();
      pre.dataset.mode = "diff";
      renderDiff(text);
      say("diff of " + view.path + " from " + view.at.id + " to " + otherId);
    } else {
      const r = await api("/api/file?" + q({ path: view.path, at: view.at.id }));
      const type = r.headers.get("content-type") || "";
      pre.dataset.mode = "content";
      if (type.startsWith("text/") || type.startsWith("application/json")) {
        pre.textContent = await r.text();
      } else {
        const n = (await r.arrayBuffer()).byteLength;
        pre.textContent = "(" + type + ", " + n + " bytes)";
      }
      say(view.path + " at " + view.at.id);
    }
  } catch (e) {
    pre.dataset.mode = "missing";
    pre.textContent = "";
    say(e.message, true);
  }
}

async function restore(path) {
  const what = path === "." ? "the whole tree" : path;
  if (!view.at) return;
  if (!window.confirm("Restore " + what + " as it was at " + view.at.id + " (" + when(view.at) +
    ")? The present is captured first, so this can be undone.")) {
    say("restore cancelled");
    return;
  }
  try {
    const r = await (await api("/api/restore", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path, at: view.at.id, confirm: true }),
    })).json();
    say("restored " + r.restored + " as at " + r.at);
  } catch (e) {
    say("restore failed: " + e.message, true);
  }
}

function listen() {
  if (!window.EventSource) return;
  const es = new EventSource("/api/events");
  es.addEventListener("hello", () => $("live").classList.add("on"));
  es.addEventListener("checkpoint", async () => {
    const atNewest = view.at && view.checkpoints.length &&
      view.at.id === view.checkpoints[view.checkpoints.length - 1].id;
    await loadTimelines();
    await loadCheckpoints();
    if (atNewest || !view.at) scrubTo(view.checkpoints.length - 1);
    // A restore's own checkpoints arrive after its result: keep the result.
    const note = "new checkpoint " + view.checkpoints[view.checkpoints.length - 1].id;
    const shown = $("message").textContent;
    say(shown.startsWith("restored") ? shown.split(" · ")[0] + " · " + note : note);
  });
  es.onerror = () => $("live").classList.remove("on");
}

async function main() {
  try {
    const st = await getJson("/api/status");
    $("root").textContent = st.root + (st.daemon ? " · daemon " + st.daemon.pid : "");
    view.allowRestore = st.allow_restore;
    $("restore-tree").hidden = !st.allow_restore;
    await loadTimelines();
    await loadCheckpoints();
    if (!view.checkpoints.length) { say("no checkpoints yet: `tl checkpoint` makes one"); }
    else scrubTo(view.checkpoints.length - 1);
  } catch (e) {
    say(e.message, true);
  }
  let timer = null;
  $("scrubber").oninput = () => {
    clearTimeout(timer);
    timer = setTimeout(() => scrubTo(Number($("scrubber").value)), 120);
  };
  $("histogram").onclick = (ev) => {
    const a = view.activity;
    if (!a || !view.checkpoints.length) return;
    const rect = ev.target.getBoundingClientRect();
    const ns = a.from_ns + ((ev.clientX - rect.left) / rect.width) * (a.to_ns - a.from_ns);
    let best = 0;
    view.checkpoints.forEach((c, i) => { if (c.time_ns <= ns) best = i; });
    scrubTo(best);
  };
  $("compare").onchange = () => showFile();
  $("timelines").onchange = async () => {
    view.timeline = $("timelines").value;
    try {
      await loadCheckpoints();
      // Stay on the state shown when it is on the chosen line, else its newest.
      const i = view.at ? view.checkpoints.findIndex((c) => c.id === view.at.id) : -1;
      if (view.checkpoints.length) scrubTo(i >= 0 ? i : view.checkpoints.length - 1);
      else say("no states on " + view.timeline + " yet");
    } catch (e) {
      say(e.message, true);
    }
  };
  $("filter").oninput = () => view.at && loadTree();
  $("restore").onclick = () => view.path && restore(view.path);
  $("restore-tree").onclick = () => restore(".");
  window.onresize = drawHistogram;
  listen();
}

main();
