// The page's one script (no transcript in it): a click on a time seeks the card's player there and plays,
// and while it plays the segment (and, with word timestamps, the word) under the playhead is lit. Installed
// once per browser tab; it finds players and lists by their keys, so it survives every rerun.
(() => {
  if (window.__asrReview) return;
  window.__asrReview = true;
  const player = (root) => document.querySelector(".st-key-" + root.dataset.player + " audio");
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-seek]");
    const root = button && button.closest("[data-player]");
    const audio = root && player(root);
    if (!audio) return;
    audio.currentTime = Number(button.dataset.seek);
    audio.play().catch(() => {});
  });
  const at = (items, time) => {  // the last item starting at or before `time`, if `time` is inside it
    let low = 0, high = items.length - 1, found = null;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (items[mid].start <= time) { found = items[mid]; low = mid + 1; } else high = mid - 1;
    }
    return found && time < found.end ? found : null;
  };
  const timed = (elements) =>
    [...elements].map((el) => ({el, start: +el.dataset.start, end: +el.dataset.end}));
  const light = (holder, name, item) => {
    if (holder[name] === item) return;
    if (holder[name]) holder[name].el.classList.remove("asr-now");
    if (item) item.el.classList.add("asr-now");
    holder[name] = item;
  };
  const follow = (event) => {
    const audio = event.target;
    if (!(audio instanceof HTMLAudioElement)) return;
    const holder = audio.closest("[class*='st-key-player_']");
    const key = holder && [...holder.classList].find((c) => c.startsWith("st-key-player_"));
    if (!key) return;
    for (const root of document.querySelectorAll(`.asr-review[data-player="${key.slice(7)}"]`)) {
      root.__segments = root.__segments || timed(root.querySelectorAll(".asr-seg"));
      const now = at(root.__segments, audio.currentTime);
      if (now && now !== root.__segment) {
        const box = root.getBoundingClientRect(), row = now.el.getBoundingClientRect();
        if (row.top < box.top || row.bottom > box.bottom) root.scrollTop += row.top - box.top - 8;
      }
      light(root, "__segment", now);
      const words = now ? (now.words = now.words || timed(now.el.querySelectorAll(".asr-w"))) : [];
      light(root, "__word", at(words, audio.currentTime));
    }
  };
  for (const kind of ["timeupdate", "seeked"]) document.addEventListener(kind, follow, true);
})();
