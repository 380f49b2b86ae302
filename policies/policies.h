#pragma once
// Budget policies (CONTRACT §2.3): SpendBook, Evaluator, ThrottleTable. Not built yet; the
// library exists so the dependency graph of DESIGN.md holds from the start.
