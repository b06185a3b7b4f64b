// The index's drug lookup: hide the rows whose brand and generic name do not hold every word
// typed, ignoring case and accents. Without JavaScript the search box stays hidden and every
// row shows. Allowed by its hash in the page's Content-Security-Policy; it loads nothing.
(() => {
  const fold = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  const form = document.getElementById("drug-search-form");
  const box = document.getElementById("drug-search");
  const status = document.getElementById("drug-count");
  const rows = [...document.querySelectorAll("#drug-lookup tbody tr")];
  const keys = rows.map((row) => fold(row.dataset.search || ""));
  const filter = () => {
    const words = fold(box.value).split(/\s+/).filter(Boolean);
    let shown = 0;
    rows.forEach((row, index) => {
      const hit = words.every((word) => keys[index].includes(word));
      row.hidden = !hit;
      shown += hit ? 1 : 0;
    });
    status.textContent = words.length
      ? `${shown} of ${rows.length} products match`
      : `${rows.length} products`;
  };
  form.addEventListener("submit", (event) => event.preventDefault());
  box.addEventListener("input", filter);
  form.hidden = false;
  filter();
})();
