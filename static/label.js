// Keyboard labeling: digits pick a choice, Escape skips, and the lease countdown ticks.
(() => {
  const typing = (el) => el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA");
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      const skip = document.getElementById("skip-form");
      if (skip) { e.preventDefault(); skip.requestSubmit(); }
      return;
    }
    if (typing(document.activeElement)) return;
    const button = document.querySelector(`.choice[data-key="${e.key}"]`);
    if (button) { e.preventDefault(); button.click(); }
  });
  const lease = document.querySelector(".lease[data-expires]");
  const out = lease && lease.querySelector(".countdown");
  if (out) {
    const expires = Number(lease.dataset.expires);
    const tick = () => {
      const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      out.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0) { lease.textContent = "Your reservation expired: this item went back to the pool."; return; }
      setTimeout(tick, 1000);
    };
    tick();
  }
})();
