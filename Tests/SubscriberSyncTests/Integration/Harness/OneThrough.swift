/// [1, 2, ..., n] (empty for n = 0).
func oneThrough(_ n: Int) -> [Int64] { Array(stride(from: Int64(1), through: Int64(n), by: 1)) }
