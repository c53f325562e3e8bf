import CRM
import Logging
import Platform
import Postgres
import RPC

extension DealBilling {
    /// Runs until cancelled: deals won in the CRM reach billing through its change feed, woken by
    /// `NOTIFY crm_changes` and polling as a fallback, so a deal won while billing was down is
    /// billed once it is back — and once, however many replicas consume the feed.
    public func runChangeFeed() async {
        await NotifiedLoop.run(db: db, channel: ChangeFeed.channel, pollInterval: configuration.pollInterval, logger: logger) {
            await self.consumeWonDeals()
        }
    }

    /// Leases due `deal.closed_won` changes and queues each deal's job as `DealClosed` does, in the
    /// transaction that marks the change handled; returns how many it leased.
    @discardableResult
    public func consumeWonDeals() async -> Int {
        let changes: [CRMChange]
        do {
            changes = try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], for: configuration.lease, in: $0) }
        } catch {
            logger.warning("cannot lease CRM changes", metadata: ["error": "\(error)"])
            return 0
        }
        for change in changes {
            do {
                try await db.withTransaction { tx in
                    do {
                        let refusal = try await Self.queue(deal: change.subject, workspace: change.workspace, in: tx)
                        try await ChangeFeed.complete(change, note: refusal?.message, in: tx)
                    } catch let error as PlatformError where error.code == .notFound {
                        try await ChangeFeed.complete(change, note: error.message, in: tx)  // deleted since: nothing to bill
                    }
                }
            } catch {
                let wait = Backoff.fullJitter(attempt: change.attempts + 1, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff)
                logger.notice("won deal will be retried", metadata: ["deal": "\(change.subject)", "error": "\(error)"])
                try? await db.withConnection { try await ChangeFeed.retry(change, after: wait, error: "\(error)", in: $0) }
            }
        }
        return changes.count
    }
}
