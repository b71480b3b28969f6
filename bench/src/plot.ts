/**
 * Charts as SVG through vega-lite (spec) → vega (View, headless) → `toSVG()`. Suites describe a chart as data
 * (`Chart`); this file owns how every chart looks, so all plots share axes, colours and the min–max whiskers.
 * No canvas is needed: vega's SVG renderer estimates text widths itself.
 */
import { parse, View } from 'vega'
import { compile } from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'

export interface ChartAxis {
  field: string
  title: string
  /** Default: nominal for bars' x, quantitative otherwise. */
  type?: 'quantitative' | 'nominal' | 'ordinal'
  /** Log scale, for sizes and counts that grow by factors. */
  log?: boolean
}

export interface Chart {
  /** File name stem: the SVG is `bench/results/<suite>-<id>.svg`. */
  id: string
  title: string
  /** `bar`: throughput by configuration; `line`: a scaling curve (x quantitative). */
  mark: 'bar' | 'line'
  x: ChartAxis
  y: ChartAxis
  /** Series: bars side by side per x (or one line per value). */
  color?: ChartAxis
  /** Fields holding each row's min and max of y: drawn as whiskers. */
  range?: { min: string; max: string }
  rows: Array<Record<string, number | string>>
}

const WIDTH_PX = 520
const HEIGHT_PX = 260

/** The vega-lite spec of a chart (exported for tests and for readers who want to re-plot the JSON). */
export function chartSpec(chart: Chart): TopLevelSpec {
  const xType = chart.x.type ?? (chart.mark === 'bar' ? 'nominal' : 'quantitative')
  const x = {
    field: chart.x.field,
    type: xType,
    title: chart.x.title,
    sort: null,
    ...(chart.x.log === true ? { scale: { type: 'log' } } : {}),
    // Long category names slant so they do not overlap.
    ...(xType === 'nominal'
      ? { axis: { labelAngle: chart.rows.some((r) => String(r[chart.x.field]).length > 12) ? -30 : 0 } }
      : {})
  }
  // A log axis has no zero: bars then start at the power of ten below the smallest value (whiskers included).
  const values = chart.rows
    .flatMap((r) => [r[chart.y.field], ...(chart.range === undefined ? [] : [r[chart.range.min]])])
    .filter((v): v is number => typeof v === 'number' && v > 0)
  const floor = 10 ** Math.floor(Math.log10(values.length === 0 ? 1 : Math.min(...values)))
  const y = {
    field: chart.y.field,
    type: chart.y.type ?? 'quantitative',
    title: chart.y.title,
    ...(chart.y.log === true ? { scale: { type: 'log', domainMin: floor } } : {})
  }
  const base = chart.mark === 'bar' && chart.y.log === true ? { y2: { datum: floor } } : {}
  const color =
    chart.color === undefined
      ? undefined
      : { field: chart.color.field, type: chart.color.type ?? 'nominal', title: chart.color.title, sort: null }
  const offset =
    chart.mark === 'bar' && chart.color !== undefined ? { xOffset: { field: chart.color.field, sort: null } } : {}
  const main = {
    mark: chart.mark === 'bar' ? { type: 'bar' } : { type: 'line', point: true },
    encoding: { x, y, ...base, ...(color === undefined ? {} : { color }), ...offset }
  }
  const layers: unknown[] = [main]
  if (chart.range !== undefined) {
    layers.push({
      mark: { type: 'rule', color: 'black' },
      encoding: {
        x,
        y: { field: chart.range.min, type: 'quantitative' },
        y2: { field: chart.range.max },
        ...offset
      }
    })
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: WIDTH_PX,
    height: HEIGHT_PX,
    data: { values: chart.rows },
    layer: layers,
    config: { font: 'sans-serif', background: 'white', legend: { labelLimit: 320 } }
  } as TopLevelSpec
}

/** Renders a chart to an SVG document. */
export async function renderChart(chart: Chart): Promise<string> {
  const view = new View(parse(compile(chartSpec(chart)).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
