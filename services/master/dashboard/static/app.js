// The DCCF dashboard's behaviour: the token (kept in sessionStorage, sent as a bearer header,
// never a cookie), live updates read from server-sent events with fetch(), downloads and
// actions through the v1 API, and the submit form. htmx loads the server-rendered fragments.
(() => {
  "use strict";
  const TOKEN_KEY = "dccf-token";
  const body = document.body;
  const authRequired = body.dataset.auth === "required";
  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const authHeaders = () => (token() ? { Authorization: `Bearer ${token()}` } : {});
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function say(text, isError = false) {
    const toast = $("toast");
    toast.textContent = text;
    toast.classList.toggle("error", isError);
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { toast.textContent = ""; }, 10000);
  }

  async function errorText(response) {
    try {
      const answer = await response.clone().json();
      if (answer && answer.error) return answer.error.message;
    } catch (_) { /* not the API's JSON error */ }
    return `the master answered ${response.status} ${response.statusText}`;
  }

  // --- the token -------------------------------------------------------------------------
  const dialog = $("token-dialog");
  const signOut = $("sign-out");

  function askForToken(message) {
    if (!dialog) return;
    if (message !== undefined) $("token-error").textContent = message;
    if (!dialog.open) dialog.showModal();
    $("token-input").focus();
  }

  function unauthorized() {
    // Several requests may fail at once: the first one, which still saw the token, says why.
    const hadOne = Boolean(token());
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(hadOne ? "That token was not accepted. Check it and sign in again." : undefined);
  }

  if (dialog) {
    $("token-form").addEventListener("submit", (event) => {
      const value = $("token-input").value.trim();
      if (!value) {
        event.preventDefault();
        $("token-error").textContent = "Enter your API token.";
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value);
      location.reload(); // every fragment and stream starts again, now with the token
    });
    // Nothing can be shown without a token, so the dialog stays until one is given.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    if (!token()) askForToken();
  }
  if (signOut) {
    signOut.hidden = !token();
    signOut.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
  }

  // --- fragments (htmx) ------------------------------------------------------------------
  function showError(target, message) {
    const text = `Could not load this: ${message}.`;
    if (target && target.querySelector(".loading")) {
      const p = document.createElement("p");
      p.className = "error";
      p.setAttribute("role", "alert");
      p.textContent = `${text} It is tried again with the next update; reload the page to try now.`;
      target.replaceChildren(p);
    } else {
      say(`${text} Showing what was loaded before.`, true);
    }
  }

  document.addEventListener("htmx:configRequest", (event) => {
    if (authRequired && !token()) {
      event.preventDefault();
      return;
    }
    Object.assign(event.detail.headers, authHeaders());
  });
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status === 401) {
      unauthorized();
      return;
    }
    let message = `the master answered ${xhr.status}`;
    try {
      message = JSON.parse(xhr.responseText).error.message;
    } catch (_) { /* keep the status line */ }
    showError(event.detail.target, message);
  });
  document.addEventListener("htmx:sendError", (event) => {
    showError(event.detail.target, "the master did not answer (is it running?)");
  });

  let refreshTimer = null;
  function refreshJobs() {
    // Bursts of changes (a batch of jobs) cost one reload of each fragment.
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      htmx.trigger(body, "dccf:jobs");
    }, 300);
  }

  // --- live updates ----------------------------------------------------------------------
  // EventSource cannot send the bearer header; fetch() can, and reads the stream as it comes.
  async function follow(url, onEvent) {
    let delay = 1000;
    for (;;) {
      if (authRequired && !token()) {
        await sleep(1000);
        continue;
      }
      try {
        const response = await fetch(url, {
          headers: { ...authHeaders(), Accept: "text/event-stream" },
          cache: "no-store",
        });
        if (response.status === 401) {
          unauthorized();
          await sleep(2000);
          continue;
        }
        if (response.status === 404) {
          onEvent("missing", await errorText(response));
          return;
        }
        if (!response.ok) throw new Error(await errorText(response));
        delay = 1000;
        onEvent("open", null);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let name = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) name = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data && onEvent(name, JSON.parse(data)) === "stop") {
              reader.cancel();
              return;
            }
          }
        }
      } catch (error) {
        onEvent("error", String(error.message || error));
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  const page = body.dataset.page;
  if (page === "overview" || page === "jobs" || page === "workers") {
    let opened = 0;
    follow("/ui/stream/jobs", (name) => {
      if (name === "jobs" || (name === "open" && opened++ > 0)) refreshJobs();
    });
  }

  const detail = $("job-detail");
  if (detail) {
    const jobId = detail.dataset.job;
    const state = $("log-state");
    const logs = { build: $("log-build"), stdout: $("log-stdout"), stderr: $("log-stderr") };
    let lastStatus = null;
    follow(`/ui/stream/jobs/${jobId}`, (name, data) => {
      if (name === "open") {
        // A new stream sends each log from its start.
        Object.values(logs).forEach((pre) => { pre.textContent = ""; });
        state.textContent = "Following live: new lines appear as the worker stores them.";
      } else if (name === "status") {
        if (lastStatus !== null && lastStatus !== data.status) htmx.trigger(body, "dccf:job");
        lastStatus = data.status;
      } else if (name === "log") {
        const pre = logs[data.stream];
        const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
        if (data.reset) pre.textContent = data.text;
        else pre.append(data.text);
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      } else if (name === "end") {
        Object.values(logs).forEach((pre) => { pre.dataset.empty = "(empty)"; });
        htmx.trigger(body, "dccf:job");
        state.textContent = "The job has ended: these are its complete logs.";
        return "stop";
      } else if (name === "gone") {
        state.textContent = "This job was deleted.";
        return "stop";
      } else if (name === "missing") {
        state.textContent = `${data}. It may have been deleted, or belong to another token.`;
      } else if (name === "error") {
        state.textContent = `The log stream broke (${data}); reconnecting…`;
      }
      return undefined;
    });
  }

  // --- actions and downloads --------------------------------------------------------------
  const ACTIONS = {
    cancel: (id) => ["POST", `/v1/jobs/${id}/cancel`],
    resubmit: (id) => ["POST", `/v1/jobs/${id}/resubmit`],
    delete: (id) => ["DELETE", `/v1/jobs/${id}`],
  };

  async function act(button) {
    const { action, job } = button.dataset;
    if (action === "delete" && !confirm(`Delete job ${job} with its logs and files?`)) return;
    const [method, path] = ACTIONS[action](job);
    button.disabled = true;
    try {
      const response = await fetch(path, { method, headers: authHeaders() });
      if (response.status === 401) {
        unauthorized();
        return;
      }
      if (!response.ok) {
        say(`Could not ${action} job ${job}: ${await errorText(response)}`, true);
        return;
      }
      if (action === "delete") location.assign("/ui/jobs");
      else if (action === "resubmit") location.assign(`/ui/jobs/${(await response.json()).id}`);
      else say(`Cancel requested: job ${job} stops within seconds.`);
    } catch (error) {
      say(`Could not ${action} job ${job}: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async function download(link) {
    // A plain link cannot carry the bearer header: fetch the file, then save it.
    const response = await fetch(link.href, { headers: authHeaders() });
    if (!response.ok) {
      say(`Download failed: ${await errorText(response)}`, true);
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = link.dataset.download;
    body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) {
      act(button);
      return;
    }
    const link = event.target.closest("a[data-download]");
    if (link && token()) {
      event.preventDefault();
      download(link);
    }
  });

  // --- the submit form --------------------------------------------------------------------
  const form = $("submit-form");
  if (form) {
    let picked = []; // {file, path}: path is the file's place in the build context
    const error = $("submit-error");

    function show() {
      const names = picked.map((p) => p.path);
      const dockerfile = names.includes("Dockerfile");
      $("picked").textContent = picked.length
        ? `${picked.length} file(s): ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}` +
          (dockerfile ? "" : " (no Dockerfile at the root yet)")
        : "No files chosen.";
    }

    // A folder's files come as "folder/a/b.txt": the folder itself is the context's root.
    const withoutTop = (path) => path.split("/").slice(1).join("/") || path;

    $("pick-folder").addEventListener("change", (event) => {
      picked = [...event.target.files].map((file) => ({ file, path: withoutTop(file.webkitRelativePath) }));
      show();
    });
    $("pick-files").addEventListener("change", (event) => {
      picked = [...event.target.files].map((file) => ({ file, path: file.name }));
      show();
    });

    function entries(entry, prefix) {
      if (entry.isFile) {
        return new Promise((resolve) => entry.file((file) => resolve([{ file, path: prefix + file.name }]), () => resolve([])));
      }
      return new Promise((resolve) => {
        const reader = entry.createReader();
        const found = [];
        const more = () => reader.readEntries(async (batch) => {
          if (!batch.length) {
            const nested = await Promise.all(found.map((child) => entries(child, `${prefix}${entry.name}/`)));
            resolve(nested.flat());
          } else {
            found.push(...batch);
            more();
          }
        }, () => resolve([]));
        more();
      });
    }

    const zone = $("drop-zone");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const items = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry()).filter(Boolean);
      const found = (await Promise.all(items.map((entry) => entries(entry, "")))).flat();
      // One dropped folder is the context's root, as when it is chosen.
      const single = items.length === 1 && items[0].isDirectory;
      picked = found.map(({ file, path }) => ({ file, path: single ? withoutTop(path) : path }));
      show();
    });

    function buildArgs(text) {
      const args = {};
      for (const [number, line] of text.split("\n").entries()) {
        if (!line.trim()) continue;
        const at = line.indexOf("=");
        if (at < 1) throw new Error(`build args line ${number + 1} is not KEY=VALUE`);
        args[line.slice(0, at).trim()] = line.slice(at + 1);
      }
      return args;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      if (!picked.length) {
        error.textContent = "Choose a folder, or a Dockerfile and its files, first.";
        $("pick-folder").focus();
        return;
      }
      const data = new FormData();
      for (const { file, path } of picked) {
        data.append(path === "Dockerfile" ? "dockerfile" : "files", file, path);
      }
      try {
        for (const [name, value] of new FormData(form)) {
          if (typeof value !== "string" || !value.trim()) continue;
          data.append(name, name === "build_args" ? JSON.stringify(buildArgs(value)) : value.trim());
        }
      } catch (problem) {
        error.textContent = problem.message;
        return;
      }
      const button = $("submit-button");
      button.disabled = true;
      try {
        const response = await fetch("/v1/jobs", { method: "POST", headers: authHeaders(), body: data });
        if (response.status === 401) {
          unauthorized();
          return;
        }
        if (!response.ok) {
          error.textContent = `The job was not accepted: ${await errorText(response)}`;
          error.focus();
          return;
        }
        location.assign(`/ui/jobs/${(await response.json()).id}`);
      } catch (problem) {
        error.textContent = `The master did not answer: ${problem.message}. Is it running?`;
      } finally {
        button.disabled = false;
      }
    });
  }
})();
