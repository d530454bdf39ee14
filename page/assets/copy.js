// A real button that writes the card's text to the clipboard (Streamlit's component iframe allows
// clipboard-write); where the Clipboard API is refused it falls back to a selected textarea. The text and
// both labels come from the JSON block the page writes beside this script.
(() => {
  const {text, label, done} = JSON.parse(document.getElementById("copy-data").textContent);
  const button = document.getElementById("copy");
  button.textContent = label;
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); }
    catch (e) {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area);
      area.select(); document.execCommand("copy"); area.remove();
    }
    button.textContent = done; setTimeout(() => button.textContent = label, 1500);
  });
})();
