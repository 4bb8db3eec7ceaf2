/**
 * Resource budgets: the sizes a request can make a service allocate, checked
 * against per-service limits before anything is allocated. Transport-free:
 * libs and services throw ResourceLimitError (field, requested, limit, the
 * variable that raises the limit; kind 'resource-exhausted'), which
 * libs/service-kit/errors.ts maps to RESOURCE_EXHAUSTED naming the field.
 *
 * The defaults live here and only here; services read overrides from the
 * environment (libs/service-kit/config.ts, docs/service-kit.md):
 *
 *   UAE_MAX_PARAMETERS       trainable parameters of one model or of one
 *                            batch of MINE statistics networks (B × per-sample)
 *   UAE_MAX_TENSOR_ELEMENTS  elements of one array a request implies: a
 *                            dataset's rows × dims, MINE's rows × hidden
 *                            activations, a batch × widest layer
 *   UAE_MAX_TRAIN_STEPS      optimiser steps one request may run: epochs ×
 *                            batches per epoch, MINE steps × samples
 */
import type { Kinded } from '../errors/index.js';

export interface ResourceBudget {
  maxParameters: number;
  maxTensorElements: number;
  maxTrainSteps: number;
}

/** 50 M parameters ≈ 200 MB of float32 weights (× 3–4 with optimiser state). */
export const DEFAULT_BUDGET: Readonly<ResourceBudget> = Object.freeze({
  maxParameters: 50_000_000,
  maxTensorElements: 250_000_000,
  maxTrainSteps: 50_000_000,
});

/** The environment variable that sets each limit. */
export const BUDGET_VARIABLES: Readonly<Record<keyof ResourceBudget, string>> = Object.freeze({
  maxParameters: 'UAE_MAX_PARAMETERS',
  maxTensorElements: 'UAE_MAX_TENSOR_ELEMENTS',
  maxTrainSteps: 'UAE_MAX_TRAIN_STEPS',
});

const WHAT: Record<keyof ResourceBudget, string> = {
  maxParameters: 'parameters',
  maxTensorElements: 'array elements',
  maxTrainSteps: 'optimiser steps',
};

/** A request that would need more than a budget allows. */
export class ResourceLimitError extends Error implements Kinded {
  readonly kind = 'resource-exhausted' as const;
  override name = 'ResourceLimitError';
  constructor(
    /** The request field whose value drives the size (proto path or option name). */
    readonly field: string,
    readonly limit: keyof ResourceBudget,
    readonly requested: number,
    readonly allowed: number,
    how: string,
  ) {
    super(
      `${field}: needs ${fmt(requested)} ${WHAT[limit]} (${how}); this service allows at most ${fmt(allowed)} ` +
        `(${BUDGET_VARIABLES[limit]})`,
    );
  }
}

function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(n);
}

/**
 * Throws ResourceLimitError when the product of `factors` exceeds the budget's
 * `limit`. Products are computed in floating point (no overflow to negative);
 * `how` describes the product for the message ("200000 features × 65536 hidden × 2 branches").
 */
export function checkBudget(budget: ResourceBudget, limit: keyof ResourceBudget, field: string, requested: number, how: string): void {
  const allowed = budget[limit];
  if (!(requested <= allowed)) throw new ResourceLimitError(field, limit, requested, allowed, how);
}
