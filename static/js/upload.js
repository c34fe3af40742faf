// Browser uploads through the REST API: each file goes up in chunks (PATCH at Upload-Offset), so a
// dropped connection resumes from the last acknowledged byte instead of starting over.
(function () {
  "use strict";
  const CHUNK = 8 * 1024 * 1024;
  const MAX_RETRIES = 8;
  const card = document.getElementById("upload-card");
  if (!card) return;
  const api = card.dataset.api;
  const detailBase = card.dataset.detailBase;
  const picked = [];  // {file, path}
  const $ = (id) => document.getElementById(id);

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function message(text, isError) {
    const el = $("upload-status");
    el.textContent = text;
    el.className = isError ? "error" : "muted";
  }

  function render() {
    const list = $("file-list");
    list.replaceChildren(...picked.map(({ file, path }) => {
      const li = document.createElement("li");
      li.textContent = `${path} (${(file.size / 1048576).toFixed(1)} MB)`;
      return li;
    }));
    $("upload-start").disabled = picked.length === 0;
  }

  function stripCommonTop(entries) {
    const tops = new Set(entries.map((e) => e.path.split("/")[0]));
    if (tops.size === 1 && entries.every((e) => e.path.includes("/"))) {
      entries.forEach((e) => { e.path = e.path.split("/").slice(1).join("/"); });
    }
    return entries;
  }

  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((ok, ko) => entry.file(ok, ko));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      let batch;
      do {
        batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
      } while (batch.length);
    }
  }

  async function add(items, files) {
    const found = [];
    if (items && items.length && items[0].webkitGetAsEntry) {
      for (const item of items) {
        const entry = item.webkitGetAsEntry();
        if (entry) await walk(entry, "", found);
      }
    } else {
      for (const file of files) found.push({ file, path: file.webkitRelativePath || file.name });
    }
    picked.push(...stripCommonTop(found));
    render();
  }

  async function request(method, url, body, headers) {
    const response = await fetch(url, {
      method, body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json", ...(headers || {}) },
    });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = new Error((data.error && data.error.message) || `HTTP ${response.status}`);
      err.status = response.status;
      throw err;
    }
    return data;
  }

  function sendChunk(url, offset, blob, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.setRequestHeader("X-CSRFToken", csrf());
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText || "{}"); } catch (e) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve({ data, offset: Number(xhr.getResponseHeader("Upload-Offset")) });
        else {
          const err = new Error((data.error && data.error.message) || `HTTP ${xhr.status}`);
          err.status = xhr.status;
          reject(err);
        }
      };
      xhr.onerror = () => { const err = new Error("connection lost"); err.status = 0; reject(err); };
      xhr.send(blob);
    });
  }

  async function uploadFile(modelUrl, { file, path }, done, total) {
    const session = await request("POST", `${modelUrl}uploads/`, JSON.stringify({ path, size: file.size }),
      { "Content-Type": "application/json" });
    const url = `${modelUrl}uploads/${session.id}/`;
    let offset = 0;
    let retries = 0;
    if (file.size === 0) await sendChunk(url, 0, new Blob([]), () => {});
    while (offset < file.size) {
      const blob = file.slice(offset, Math.min(offset + CHUNK, file.size));
      try {
        const result = await sendChunk(url, offset, blob, (loaded) => {
          const pct = ((done + offset + loaded) / total) * 100;
          $("progress-bar").style.width = `${pct.toFixed(1)}%`;
          message(`Uploading ${path}: ${pct.toFixed(0)}% of everything`);
        });
        offset = result.offset;
        retries = 0;
      } catch (err) {
        if (err.status && err.status !== 409 && err.status < 500) throw err;
        if (++retries > MAX_RETRIES) throw new Error(`${path}: gave up after ${MAX_RETRIES} retries (${err.message})`);
        message(`${path}: ${err.message}; resuming…`, true);
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** retries, 15000)));
        offset = (await request("GET", url)).offset;  // resume from the last acknowledged byte
      }
    }
    return file.size;
  }

  async function start() {
    $("upload-start").disabled = true;
    let modelUrl = null;
    try {
      const artifact = await request("POST", api, JSON.stringify({ name: $("up-name").value.trim(), format: $("up-format").value }),
        { "Content-Type": "application/json" });
      modelUrl = `${api}${artifact.id}/`;
      const total = picked.reduce((sum, p) => sum + p.file.size, 0) || 1;
      let done = 0;
      for (const item of picked) done += await uploadFile(modelUrl, item, done, total);
      $("progress-bar").style.width = "100%";
      await request("POST", `${modelUrl}complete`);
      modelUrl = null;
      message("Uploaded. Inspecting…");
      window.location.assign(`${detailBase}${artifact.id}/`);
    } catch (err) {
      // A refused file (a bad name, a code file, over the limit) would otherwise leave an empty
      // version behind that never completes: remove the version this attempt made.
      if (modelUrl) await request("DELETE", modelUrl).catch(() => {});
      message(err.message, true);
      $("progress-bar").style.width = "0%";
      $("upload-start").disabled = false;
    }
  }

  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    add(e.dataTransfer.items, e.dataTransfer.files);
  });
  $("up-files").addEventListener("change", (e) => add(null, e.target.files));
  $("upload-start").addEventListener("click", start);
})();
