import Testing
@testable import SubscriberSync

/// A session's 32-bit `backend_xid` widened to the full id it stands for, next to `xmax`: a
/// transaction that started after the latest completion runs with an id at or above `xmax`, and
/// must not be taken for one of the epoch before (that stalled events and forwards on every
/// server past 2^32 transactions).
@Suite struct CompletedBoundaryTests {
    static let epoch: UInt64 = 1 << 32

    @Test(arguments: [
        // First epoch: below and above xmax.
        (UInt32(995), UInt64(1_000), UInt64(995)),
        (UInt32(1_005), UInt64(1_000), UInt64(1_005)),
        // A later epoch: the same, in that epoch.
        (UInt32(995), 3 * epoch + 1_000, 3 * epoch + 995),
        (UInt32(1_005), 3 * epoch + 1_000, 3 * epoch + 1_005),
        // Just after a wrap: a transaction still running from the epoch before.
        (UInt32.max - 15, epoch + 10, epoch - 16),
        // Just before a wrap: a transaction that started in the next epoch.
        (UInt32(5), epoch - 10, epoch + 5),
    ])
    func aRunningTransactionIsWidenedToTheNearestEpoch(short: UInt32, xmax: UInt64, full: UInt64) {
        #expect(CompletedBoundary.widen(short, near: xmax) == full)
    }
}
