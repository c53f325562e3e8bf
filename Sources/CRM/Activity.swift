public import Foundation
public import Postgres

/// The kind of an activity on the CRM's timeline.
public struct ActivityKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let email = ActivityKind(rawValue: "email")
    public static let meeting = ActivityKind(rawValue: "meeting")
    public static let paymentReceived = ActivityKind(rawValue: "payment_received")
    public static let emailOpened = ActivityKind(rawValue: "email_opened")
    public static let emailClicked = ActivityKind(rawValue: "email_clicked")
    public static let campaignSent = ActivityKind(rawValue: "campaign_sent")
    public static let ticket = ActivityKind(rawValue: "ticket")
}

/// What an activity of one kind stores in `data`: each kind has its own payload type.
public protocol ActivityPayload: Encodable, Sendable {
    static var kind: ActivityKind { get }
}

/// The records an activity belongs to; any may be absent.
public struct ActivityLinks: Sendable, Hashable {
    public var contact: UUID?
    public var lead: UUID?
    public var account: UUID?
    public var deal: UUID?

    public init(contact: UUID? = nil, lead: UUID? = nil, account: UUID? = nil, deal: UUID? = nil) {
        self.contact = contact
        self.lead = lead
        self.account = account
        self.deal = deal
    }
}

/// One entry of the CRM's timeline, from an outside system: identified by (source, external id),
/// so recording it again changes nothing.
public struct Activity: Sendable {
    public var kind: ActivityKind { Swift.type(of: payload).kind }
    public var subject: String
    public var body: String?
    public var occurredAt: Date
    public var links: ActivityLinks
    /// The system it came from (`stripe`, `gmail`, …) and its id there.
    public var source: String
    public var externalID: String
    public var payload: any ActivityPayload

    public init(subject: String, body: String? = nil, occurredAt: Date, links: ActivityLinks, source: String, externalID: String,
                payload: some ActivityPayload) {
        self.subject = subject
        self.body = body
        self.occurredAt = occurredAt
        self.links = links
        self.source = source
        self.externalID = externalID
        self.payload = payload
    }
}

/// A payment of an invoice (`payment_received`).
public struct PaymentReceived: ActivityPayload, Hashable {
    public static let kind = ActivityKind.paymentReceived
    public var invoiceID: String
    /// In the currency's major unit (12.98, not 1298 cents).
    public var amount: Decimal
    public var currency: String
    public var paidAt: Date
    /// The provider's event that reported it.
    public var eventID: String

    public init(invoiceID: String, amount: Decimal, currency: String, paidAt: Date, eventID: String) {
        self.invoiceID = invoiceID
        self.amount = amount
        self.currency = currency
        self.paidAt = paidAt
        self.eventID = eventID
    }

    enum CodingKeys: String, CodingKey {
        case invoiceID = "invoice_id", amount, currency, paidAt = "paid_at", eventID = "event_id"
    }
}

/// A mail message sent or received (`email`).
public struct EmailMessage: ActivityPayload, Hashable {
    public static let kind = ActivityKind.email
    public enum Direction: String, Codable, Sendable { case inbound, outbound }
    public var direction: Direction
    public var from: String
    public var to: [String]
    public var cc: [String]
    public var threadID: String?
    public var messageID: String?
    /// The provider's preview, the HTML body (the activity's `body` is the text one) and attachment names.
    public var snippet: String?
    public var html: String?
    public var attachments: [String]?
    /// The thread's earlier Message-IDs (a reply to this message lists them, then `messageID`).
    public var references: [String]?
    /// How the CRM sent it (`gmail`); nil for mail it read.
    public var sentVia: String?
    /// Its tone and intent, with the cues that decided them.
    public var analysis: MailAnalysis?

    public init(direction: Direction, from: String, to: [String], cc: [String] = [], threadID: String? = nil, messageID: String? = nil,
                snippet: String? = nil, html: String? = nil, attachments: [String]? = nil, references: [String]? = nil, sentVia: String? = nil,
                analysis: MailAnalysis? = nil) {
        self.direction = direction
        self.from = from
        self.to = to
        self.cc = cc
        self.threadID = threadID
        self.messageID = messageID
        self.snippet = snippet
        self.html = html
        self.attachments = attachments
        self.references = references
        self.sentVia = sentVia
        self.analysis = analysis
    }

    enum CodingKeys: String, CodingKey {
        case direction, from, to, cc, threadID = "thread_id", messageID = "message_id", snippet, html, attachments, references, sentVia = "sent_via", analysis
    }
}

/// What a message's text says about its writer: sentiment in [-1, 1] with its label, one intent
/// of a fixed set, and the cues (words, phrases) that decided each.
public struct MailAnalysis: Codable, Sendable, Hashable {
    public var sentimentScore: Double
    /// `positive`, `neutral` or `negative`.
    public var sentiment: String
    public var sentimentCues: [String]
    /// `meeting_request`, `pricing_interest`, `support_problem`, `complaint`, `not_interested`, `out_of_office` or `other`.
    public var intent: String
    public var intentCues: [String]

    public init(sentimentScore: Double, sentiment: String, sentimentCues: [String], intent: String, intentCues: [String]) {
        self.sentimentScore = sentimentScore
        self.sentiment = sentiment
        self.sentimentCues = sentimentCues
        self.intent = intent
        self.intentCues = intentCues
    }

    enum CodingKeys: String, CodingKey {
        case sentimentScore = "sentiment_score", sentiment, sentimentCues = "sentiment_cues", intent, intentCues = "intent_cues"
    }
}

/// Recording activities.
public enum Activities {
    /// Records `activity` in the caller's transaction, once per (workspace, source, external id).
    /// - Returns: the new activity's id, or nil when it was recorded before.
    @discardableResult
    public static func record(_ activity: Activity, workspace: UUID, in db: PostgresConnectionHandle) async throws -> UUID? {
        let data = try JSON.encode(activity.payload)
        return try await db.query("""
            INSERT INTO activities (id, workspace_id, kind, subject, body, contact_id, lead_id, account_id, deal_id, occurred_at, source, external_id, data)
            VALUES (\(UUID()), \(workspace), \(activity.kind.rawValue), \(activity.subject), \(activity.body), \(activity.links.contact),
                    \(activity.links.lead), \(activity.links.account), \(activity.links.deal), \(activity.occurredAt), \(activity.source),
                    \(activity.externalID), \(data)::jsonb)
            ON CONFLICT (workspace_id, source, external_id) DO NOTHING
            RETURNING id
            """).first?.decode(UUID.self, at: 0)
    }

    /// Records `activities` with one statement, each once per (workspace, source, external id).
    /// - Returns: for each, in order, its new id, or nil when it was recorded before.
    public static func record(_ activities: [Activity], workspace: UUID, in db: PostgresConnectionHandle) async throws -> [UUID?] {
        guard !activities.isEmpty else { return [] }
        let rows = activities.map { Row(id: UUID(), activity: $0) }
        let inserted = try await db.query("""
            INSERT INTO activities (id, workspace_id, kind, subject, body, contact_id, lead_id, account_id, deal_id, occurred_at, source, external_id, data)
            SELECT r.id, \(workspace), r.kind, r.subject, r.body, r.contact_id, r.lead_id, r.account_id, r.deal_id, r.occurred_at, r.source, r.external_id, r.data
            FROM jsonb_to_recordset(\(try JSON.encode(rows))::jsonb) AS r(id uuid, kind text, subject text, body text, contact_id uuid, lead_id uuid,
                 account_id uuid, deal_id uuid, occurred_at timestamptz, source text, external_id text, data jsonb)
            ON CONFLICT (workspace_id, source, external_id) DO NOTHING
            RETURNING id
            """).map { try $0.decode(UUID.self, at: 0) }
        let new = Set(inserted)
        return rows.map { new.contains($0.id) ? $0.id : nil }
    }

    /// One activity as `jsonb_to_recordset` reads it.
    private struct Row: Encodable {
        let id: UUID
        let activity: Activity

        enum CodingKeys: String, CodingKey {
            case id, kind, subject, body, contactID = "contact_id", leadID = "lead_id", accountID = "account_id", dealID = "deal_id"
            case occurredAt = "occurred_at", source, externalID = "external_id", data
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(activity.kind.rawValue, forKey: .kind)
            try c.encode(activity.subject, forKey: .subject)
            try c.encodeIfPresent(activity.body, forKey: .body)
            try c.encodeIfPresent(activity.links.contact, forKey: .contactID)
            try c.encodeIfPresent(activity.links.lead, forKey: .leadID)
            try c.encodeIfPresent(activity.links.account, forKey: .accountID)
            try c.encodeIfPresent(activity.links.deal, forKey: .dealID)
            try c.encode(JSON.timestamp(activity.occurredAt), forKey: .occurredAt)
            try c.encode(activity.source, forKey: .source)
            try c.encode(activity.externalID, forKey: .externalID)
            try activity.payload.encode(to: c.superEncoder(forKey: .data))
        }
    }
}

/// A campaign mail opened (`email_opened`): a weak signal, since Apple Mail Privacy Protection
/// opens every mail it receives.
public struct EmailOpened: ActivityPayload, Hashable {
    public static let kind = ActivityKind.emailOpened
    public var campaignID: String

    public init(campaignID: String) { self.campaignID = campaignID }

    enum CodingKeys: String, CodingKey { case campaignID = "campaign_id" }
}

/// A link in a campaign mail clicked (`email_clicked`).
public struct EmailClicked: ActivityPayload, Hashable {
    public static let kind = ActivityKind.emailClicked
    public var campaignID: String
    public var url: String

    public init(campaignID: String, url: String) {
        self.campaignID = campaignID
        self.url = url
    }

    enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", url }
}
