/** isBackendFault tells a broken backend (a real wasm trap, an emscripten abort) from a bad input. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, isBackendFault, triggerBackendTrap } from '../../libs/tensor/index.js';
import { ProtoFieldError } from '../../libs/proto/index.js';
import { ModelInputError } from '../../libs/models/index.js';

describe('isBackendFault', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is true for a real WebAssembly trap in the wasm backend and for "Aborted()"', () => {
    let trap: unknown;
    try {
      triggerBackendTrap();
    } catch (e) {
      trap = e;
    }
    expect((trap as Error).message).toBe('memory access out of bounds');
    expect(isBackendFault(trap)).toBe(true);
    expect(isBackendFault(new Error('Aborted(). Build with -sASSERTIONS for more info.'))).toBe(true);
  });

  it('is false for input errors and ordinary failures', () => {
    expect(isBackendFault(new ProtoFieldError('x', 'bad'))).toBe(false);
    expect(isBackendFault(new ModelInputError('k too large', 'k'))).toBe(false);
    expect(isBackendFault(new RangeError('Invalid typed array length: 13107200000'))).toBe(false);
  });
});
