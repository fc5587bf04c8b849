/**
 * A typed, named side output (Flink's OutputTag). Two tags with the same id are the same output.
 */
export class OutputTag<T> {
  /** Phantom field that carries T for type inference; never set. */
  declare readonly _type?: T

  constructor(readonly id: string) {
    if (typeof id !== 'string' || id.length === 0) throw new TypeError('an OutputTag needs a non-empty string id')
  }

  toString(): string {
    return `OutputTag(${this.id})`
  }
}
