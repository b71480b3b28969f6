/**
 * Durability under churn: the discrete-event simulation of bench/src/durability.ts (driven by @sherd/client's
 * repair policy) over a simulated year at 4+2, 10+4, 10+20 and 29/51 with the default threshold, and a check of
 * the simulator against the closed form P(more than m of n failed) with repair off.
 */
import { defaultRepairThreshold } from '@sherd/client'
import { MIB } from '../harness.js'
import type { Measurement, Suite, SuiteResult } from '../harness.js'
import {
  DAY_S,
  firstLossRepairLossRate,
  markovMttdlYears,
  noRepairLossProbability,
  periodSeconds,
  repairServiceS,
  simulateDurability,
  YEAR_S
} from '../durability.js'
import type { DurabilityParams } from '../durability.js'

/** Backblaze Drive Stats, annualized failure rate of their fleet in 2023–2024: about 1.5–1.7 %. */
const DISK_AFR = 0.016
/** Assumption: a quarter of providers leave for good each year (no published figure for a network like this). */
const DEPARTURES_PER_YEAR = 0.25
const CODES: Array<[number, number]> = [
  [4, 2],
  [10, 4],
  [10, 20],
  [29, 51]
]
/** Model check: no repair, a failure rate high enough that losses are common in a year. */
const CHECK_FAILURES_PER_YEAR = 0.5
const CHECK_CODES: Array<[number, number]> = [
  [4, 2],
  [10, 4]
]
/** Model check with repair: churn high enough (mean provider life 12 days) that 4+2 loses files in a year. */
const REPAIR_CHECK_FAILURES_PER_YEAR = 30

function baseParams(full: boolean): Omit<DurabilityParams, 'k' | 'm'> {
  return {
    files: full ? 200_000 : 100_000,
    horizonS: YEAR_S,
    providers: full ? 2_000 : 400,
    failuresPerProviderYear: DISK_AFR + DEPARTURES_PER_YEAR,
    joinFactor: 1,
    periodS: periodSeconds(256, 12),
    proofOffsetS: 3 * 12,
    segmentBytes: 64 * MIB,
    providerBytesPerS: 25e6 / 8,
    keeperBytesPerS: 100e6 / 8,
    filesPerKeeper: 1_000,
    dealTermS: 90 * DAY_S,
    extendLeadS: 14 * DAY_S,
    sweepS: 7 * DAY_S,
    seed: 15
  }
}

const label = (k: number, m: number): string => (k === 29 ? '29/51' : `${k}+${m}`)
const row = (name: string, ms: number, extra: Record<string, number | string>): Measurement => ({
  name,
  runs: 1,
  medianMs: ms,
  minMs: ms,
  maxMs: ms,
  cpuMedianMs: ms,
  extra
})

export const durabilitySuite: Suite = {
  name: 'durability',
  description:
    "simulated year of files under provider churn, repaired by the client's repair policy; checked against closed form",
  async run({ full, log }): Promise<SuiteResult> {
    const measurements: Measurement[] = []
    const summary: Record<string, number | string> = {}
    const notes: string[] = []
    const base = baseParams(full)
    const lossRows: Array<Record<string, number | string>> = []

    for (const [k, m] of CODES) {
      log(`${label(k, m)}: ${base.files} files, ${base.providers} providers, one year`)
      const t0 = performance.now()
      const r = simulateDurability({ ...base, k, m })
      const ms = performance.now() - t0
      // The Markov estimate uses the simulation's own mean detection + repair time as its mean repair time.
      const meanRepairYears = (r.meanDetectionS + r.meanRepairS) / YEAR_S
      const mttdl = markovMttdlYears(
        k,
        m,
        r.threshold,
        base.failuresPerProviderYear,
        meanRepairYears > 0 ? meanRepairYears : 1 / YEAR_S
      )
      const modelPerMillion = (1 - Math.exp(-1 / mttdl)) * 1e6
      measurements.push(
        row(`${label(k, m)} threshold ${r.threshold}`, ms, {
          'files lost': r.filesLost,
          'segments < k+1 healthy': r.segmentsBelowKPlus1,
          repairs: r.repairs,
          'shards rebuilt': r.shardsRebuilt,
          'repair bytes per stored byte-year': +r.repairTrafficPerStoredByteYear.toPrecision(3),
          'mean detection min': +(r.meanDetectionS / 60).toFixed(1),
          'mean repair min': +(r.meanRepairS / 60).toFixed(2),
          'provider failures': r.providerFailures,
          'deal extensions': r.extensions,
          events: r.eventCount
        })
      )
      summary[`files lost per million-file-years (${label(k, m)}, default threshold)`] =
        +r.filesLostPerMillionFileYears.toFixed(3)
      summary[`durability nines (${label(k, m)}, simulated${r.ninesIsBound ? ', ≥: no loss, 95 % bound' : ''})`] =
        +r.nines.toFixed(2)
      summary[`durability nines (${label(k, m)}, Markov model)`] =
        Number.isFinite(modelPerMillion) && modelPerMillion > 0
          ? +(-Math.log10(modelPerMillion / 1e6)).toFixed(1)
          : '> 15'
      summary[`segments ever below k + 1 healthy (${label(k, m)})`] = r.segmentsBelowKPlus1
      if (r.segmentsSharingAProvider > 0)
        throw new Error(`${label(k, m)}: ${r.segmentsSharingAProvider} segments ended with two shards on one provider`)
      summary[`repair traffic per stored byte per year (${label(k, m)})`] =
        +r.repairTrafficPerStoredByteYear.toPrecision(3)
      lossRows.push({
        code: label(k, m),
        'nines': +r.nines.toFixed(2),
        kind: r.ninesIsBound ? 'simulated (≥, no loss seen)' : 'simulated'
      })
      if (Number.isFinite(modelPerMillion) && modelPerMillion > 0) {
        lossRows.push({
          code: label(k, m),
          nines: Math.min(30, +(-Math.log10(modelPerMillion / 1e6)).toFixed(1)),
          kind: 'Markov model'
        })
      }
    }

    // Model check: the same simulator with repair off against P(more than m of n failed by t).
    const checkRows: Array<Record<string, number | string>> = []
    let worst = 0
    for (const [k, m] of CHECK_CODES) {
      const months = Array.from({ length: 12 }, (_, i) => ((i + 1) * YEAR_S) / 12)
      log(`model check ${label(k, m)}: no repair, ${CHECK_FAILURES_PER_YEAR} failures per provider-year`)
      const t0 = performance.now()
      const r = simulateDurability({
        ...base,
        k,
        m,
        threshold: -1,
        files: full ? 200_000 : 100_000,
        providers: 50_000,
        joinFactor: 0,
        failuresPerProviderYear: CHECK_FAILURES_PER_YEAR,
        sampleAtS: months,
        seed: 1015
      })
      const ms = performance.now() - t0
      for (const s of r.samples) {
        const model = noRepairLossProbability(k, m, CHECK_FAILURES_PER_YEAR, s.tS)
        const month = Math.round(s.tS / (YEAR_S / 12))
        checkRows.push({ month, 'P(segment lost)': s.fractionLost, series: `${label(k, m)} simulated` })
        checkRows.push({ month, 'P(segment lost)': model, series: `${label(k, m)} closed form` })
        // Compare where the closed form predicts at least 1 % loss: below that a 20,000-file sample is noise.
        if (model >= 0.01) worst = Math.max(worst, Math.abs(s.fractionLost - model) / model)
      }
      const end = r.samples[r.samples.length - 1]!
      const model = noRepairLossProbability(k, m, CHECK_FAILURES_PER_YEAR, end.tS)
      const error = Math.abs(end.fractionLost - model) / model
      measurements.push(
        row(`model check ${label(k, m)}, no repair, 1 year`, ms, {
          simulated: +end.fractionLost.toFixed(5),
          'closed form': +model.toFixed(5),
          'relative error': +error.toFixed(4)
        })
      )
      summary[`model check (${label(k, m)}, no repair, 1 year): simulated ÷ closed form`] = +(
        end.fractionLost / model
      ).toFixed(4)
    }
    summary['model check (no repair): worst relative error over months with P ≥ 1 %'] = +worst.toFixed(4)

    // Model check with repair: 4+2 repaired at its first loss (the default threshold 5), no keeper queueing,
    // against the closed form of firstLossRepairLossRate.
    {
      const k = 4
      const m = 2
      log(
        `model check ${label(k, m)} with repair at threshold ${defaultRepairThreshold(k, m)}: ${REPAIR_CHECK_FAILURES_PER_YEAR} failures per provider-year`
      )
      const params = {
        ...base,
        k,
        m,
        files: full ? 200_000 : 40_000,
        providers: 4_000,
        filesPerKeeper: 1,
        failuresPerProviderYear: REPAIR_CHECK_FAILURES_PER_YEAR,
        seed: 2015
      }
      const t0 = performance.now()
      const r = simulateDurability(params)
      const ms = performance.now() - t0
      const model = firstLossRepairLossRate(
        k,
        m,
        REPAIR_CHECK_FAILURES_PER_YEAR,
        params.periodS,
        params.proofOffsetS,
        repairServiceS(params, 1)
      )
      const simulated = r.filesLost / r.fileYearsAtRisk
      const error = Math.abs(simulated - model) / model
      worst = Math.max(worst, error)
      measurements.push(
        row(`model check ${label(k, m)}, repair at first loss, ${REPAIR_CHECK_FAILURES_PER_YEAR}/provider-year`, ms, {
          simulated: +simulated.toFixed(6),
          'closed form': +model.toFixed(6),
          'relative error': +error.toFixed(4),
          'files lost': r.filesLost
        })
      )
      summary[
        `model check (${label(k, m)}, repair at first loss, ${REPAIR_CHECK_FAILURES_PER_YEAR} failures/provider-year): simulated ÷ closed form`
      ] = +(simulated / model).toFixed(4)
      summary[`model check (${label(k, m)}, repair): files lost of ${r.files}`] = r.filesLost
    }
    summary['model check: worst relative error'] = +worst.toFixed(4)
    summary['model check within 10 %'] = worst <= 0.1 ? 'yes' : 'NO'
    const zeroAt1020 = summary['files lost per million-file-years (10+20, default threshold)'] === 0
    summary['zero files lost at 10+20, default threshold'] = zeroAt1020 ? 'yes' : 'NO'
    notes.push(
      `failure rate ${base.failuresPerProviderYear} per provider-year: disk AFR ${DISK_AFR} (Backblaze Drive Stats 2023–2024) + ${DEPARTURES_PER_YEAR} departures (assumption); joins keep the population at ${base.providers}.`,
      `detection: a dead provider's shards are suspect when the first ${base.periodS / 60}-minute period it should have proven closes (ProofSetMarket defaults, liveness rule: 1 missed period).`,
      `repair: ${base.segmentBytes / MIB} MiB segments; k reads and the uploads in parallel at ${(base.providerBytesPerS * 8) / 1e6} Mbit/s per provider, one repair at a time per keeper of ${base.filesPerKeeper} files at ${(base.keeperBytesPerS * 8) / 1e6} Mbit/s.`,
      "Markov model: birth–death chain, failures i·λ, repair at rate 1 / (the simulation's mean detection + repair time) once healthy ≤ threshold; an estimate where the simulation sees no loss.",
      'nines with no simulated loss are the 95 % bound from zero losses (3 / file-years), not a measurement.'
    )
    return {
      measurements,
      summary,
      notes,
      charts: [
        {
          id: 'model-check',
          title: 'No repair: fraction of segments lost, simulation vs closed form',
          mark: 'line',
          x: { field: 'month', title: 'months' },
          y: { field: 'P(segment lost)', title: 'P(segment lost)' },
          color: { field: 'series', title: '' },
          rows: checkRows
        },
        {
          id: 'nines',
          title: `Durability (nines per file-year), default thresholds (${CODES.map(([k, m]) => `${label(k, m)}@${defaultRepairThreshold(k, m)}`).join(', ')})`,
          mark: 'bar',
          x: { field: 'code', title: 'code' },
          y: { field: 'nines', title: 'nines' },
          color: { field: 'kind', title: '' },
          rows: lossRows
        }
      ]
    }
  }
}
