// Rewrites vendor/ from the pinned packages in node_modules (`npm ci && npm run vendor`):
// ECharts with only the charts and components the console draws (its documented way to
// import a smaller build), and the official graphql-ws client, each one ES module for the
// browser. The binary embeds the files as committed.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const version = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")).version;

async function bundle(entry, outfile, banner) {
  await build({
    stdin: { contents: entry, resolveDir: process.cwd(), loader: "js" },
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: true,
    legalComments: "eof",
    outfile,
    banner: { js: banner },
  });
}

await bundle(
  `export * from "echarts/core";
   import { use } from "echarts/core";
   import { LineChart, BarChart } from "echarts/charts";
   import { GridComponent, TooltipComponent, LegendComponent, DataZoomComponent } from "echarts/components";
   import { SVGRenderer } from "echarts/renderers";
   use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, SVGRenderer]);`,
  "vendor/echarts.js",
  `/* Apache ECharts ${version("echarts")} (Apache-2.0, https://echarts.apache.org): line and bar charts, SVG renderer; built by 'npm run vendor' in src/http/console, do not edit. */`,
);
await bundle(
  `export { createClient } from "graphql-ws";`,
  "vendor/graphql-ws.js",
  `/* graphql-ws ${version("graphql-ws")} client (MIT, https://github.com/enisdenjo/graphql-ws); built by 'npm run vendor' in src/http/console, do not edit. */`,
);
console.log(`vendor/: echarts ${version("echarts")}, graphql-ws ${version("graphql-ws")}`);
