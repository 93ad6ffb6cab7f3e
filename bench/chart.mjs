// Draws benchmark series as a small standalone SVG: x = message size (log2), y = value (linear),
// one line per series, ours beside perftest's. No dependencies.
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function fmtSize(n) {
  return n >= 1 << 20 ? `${n / (1 << 20)}M` : n >= 1024 ? `${n / 1024}K` : String(n);
}

/**
 * @param {{ title: string, yLabel: string, series: { name: string, dashed?: boolean, points: [number, number][] }[] }} c
 * @returns {string} SVG text
 */
export function lineChart(c) {
  const W = 640;
  const H = 360;
  const m = { l: 64, r: 170, t: 36, b: 44 };
  const pts = c.series.flatMap((s) => s.points);
  if (pts.length === 0)
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">${c.title}: no data</text></svg>`;
  const xs = pts.map((p) => Math.log2(p[0]));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const yMax = Math.max(...pts.map((p) => p[1])) * 1.1 || 1;
  const X = (v) => m.l + ((Math.log2(v) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v) => H - m.b - (v / yMax) * (H - m.t - m.b);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
  ];
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${c.title}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${v >= 100 ? v.toFixed(0) : v.toFixed(1)}</text>`,
    );
  }
  const sizes = [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b);
  for (const s of sizes)
    out.push(`<text x="${X(s)}" y="${H - m.b + 16}" text-anchor="middle">${fmtSize(s)}</text>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">message size (bytes)</text>`);
  out.push(
    `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${c.yLabel}</text>`,
  );
  c.series.forEach((s, i) => {
    const color = s.color ?? COLORS[Math.floor(i / 2) % COLORS.length];
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const p of s.points)
      out.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = m.t + 14 + i * 18;
    out.push(
      `<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${W - m.r + 42}" y="${ly}">${s.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
