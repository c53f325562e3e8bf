import Foundation

/// Intent by weighted cue phrases over the subject and the body.
///
/// Each intent has phrases (whole words, lower case) with a weight; a phrase found in the body
/// adds its weight once, in the subject 1.5× its weight. The intent with the highest total wins
/// when it reaches 1.0; below that the message is `other`. Ties go to the earlier intent in
/// `precedence` (an absence reply before a refusal before a complaint before a problem report, since
/// the first of each pair usually contains the vocabulary of the second). The phrases that added to
/// the winner are its cues.
public enum IntentRules {
    public struct Result: Sendable, Hashable {
        public var intent: MailIntent
        public var score: Double
        public var cues: [String]
    }

    public static let threshold = 1.0
    static let precedence: [MailIntent] = [.outOfOffice, .notInterested, .complaint, .supportProblem, .pricingInterest, .meetingRequest, .other]

    public static func classify(subject: String, body: String) -> Result {
        // Each phrase found counts once, at its best weight (the subject's 1.5× or the body's).
        var found: [String: Double] = [:]
        for (tokens, factor) in [(SentimentLexicon.tokenize(subject), 1.5), (SentimentLexicon.tokenize(body), 1.0)] {
            for (position, token) in tokens.enumerated() {
                for candidate in byFirstWord[token] ?? [] where tokens[(position + 1)...].starts(with: candidate.rest) {
                    found[candidate.key] = max(found[candidate.key] ?? 0, candidate.weight * factor)
                }
            }
        }
        var best = Result(intent: .other, score: 0, cues: [])
        for intent in precedence {
            var score = 0.0
            var cues: [String] = []
            for (phrase, _) in table[intent] ?? [] {
                guard let weight = found["\(intent.rawValue) \(phrase)"] else { continue }
                score += weight
                cues.append(phrase)
            }
            if score > best.score { best = Result(intent: intent, score: score, cues: cues) }
        }
        return best.score >= threshold ? best : Result(intent: .other, score: best.score, cues: best.intent == .other ? best.cues : [])
    }

    /// The phrases by their first word: the words that must follow, the weight, and a key
    /// (`<intent> <phrase>`) for what was found.
    static let byFirstWord: [String: [(rest: [String], weight: Double, key: String)]] = {
        var index: [String: [(rest: [String], weight: Double, key: String)]] = [:]
        for (intent, phrases) in table {
            for (phrase, weight) in phrases {
                let words = phrase.split(separator: " ").map(String.init)
                index[words[0], default: []].append((Array(words.dropFirst()), weight, "\(intent.rawValue) \(phrase)"))
            }
        }
        return index
    }()

    /// `intent: weight phrase, phrase; weight phrase …` — parsed once.
    static let table: [MailIntent: [(String, Double)]] = {
        let source: [MailIntent: String] = [
            .meetingRequest: """
                1.0 call, meeting, meet, demo, chat, catch up, sync, session, workshop, walkthrough, walk through, kickoff, invite, zoom,
                google meet, video call, screen share, coffee, lunch, in person, check in;
                0.8 schedule, book, arrange, set up, slot, slots, availability, available, free, time to, times, spare;
                0.6 tomorrow, monday, tuesday, wednesday, thursday, friday, next week, this week, afternoon, morning, am, pm
                """,
            .pricingInterest: """
                1.4 price, prices, pricing, quote, cost, costs, how much, discount, discounts, purchase, purchasing, buy, licenses,
                licensing, order form, purchase order, invoice please, budget is approved, paid subscription, annual plan, plan cost;
                1.0 plan, plans, tier, tiers, seats, per seat, per user, billed, billing, pay, payment, paperwork, sign up, upgrade,
                renewal price, proposal, contract terms, vat, currency, reseller, nonprofit, startup plan, education, volume, upfront,
                budget planning, estimate, subscription
                """,
            .supportProblem: """
                1.4 not working, stopped working, doesn't work, does not work, error, errors, bug, broken, crash, crashes, fails, failing,
                failed, fix, not showing, not updating, no results, stuck, can't, cannot, unable, how do i, how can i, where is, help me,
                help, assistance, issue, problem, timeout, locked out, lost my, reset, missing, disappeared, duplicate,
                duplicates, wrong, out of date, doesn't load, does not seem, not recording, isn't, no longer receive, limit, limits;
                1.0 sync, import, export, login, log in, password, api, webhook, integration, upload, mapping, setting, settings,
                configure, configuring, set up, sso, extension, slow, loading, not linked
                """,
            .complaint: """
                2.0 unacceptable, disappointed, terrible, awful, frustrated, frustrating, ridiculous, misled, misleading, cheated,
                rude, dismissive, unprofessional, dissatisfied, unhappy, not happy, formal complaint, complaint, escalate, refund,
                compensation, overcharged, charged twice, hidden fees, dispute, worst, never again, shocking, disgusted, angry,
                upset, lost trust, broken promises, promised, a joke, wasted, poor, ignored, unprepared, harassment, demand;
                1.0 expect better, we expect, not acceptable, again, still waiting, is anyone, feel, by far, failing us
                """,
            .notInterested: """
                2.4 not interested, unsubscribe, opt me out, opt out, opting out, remove me, remove my, take me off, stop emailing,
                stop sending, stop calling, do not contact, don't contact, not be contacted, no need to follow up, don't follow up,
                no interest, not moving forward, not move forward, not proceeding, not be proceeding, not proceed, will not proceed,
                won't be renewing, won't renew, chose not to, decided not to, decided against, not to move forward;
                1.6 another vendor, a competitor, competitor, not a fit, not for us, no thanks, we'll pass, pass on, no budget,
                not looking, not buying, not purchasing, not be purchasing, won't continue, cancelling our evaluation, stay with,
                all set with, another direction, made our decision, decision elsewhere, not pursuing, on hold, not the right time,
                not a priority, isn't a priority, declining, no longer need, mailing list, sequence, spam, don't have budget,
                happy with our current, current tool, won't be moving, not going, not right time
                """,
            .outOfOffice: """
                2.6 out of office, out of the office, ooo, automatic reply, auto reply, autoreply, auto response, autoresponse,
                on vacation, on holiday, on leave, annual leave, parental leave, maternity leave, sick leave, sabbatical,
                away until, back on, returning, return on, upon my return, when i return, when i'm back, limited access,
                no access to email, limited email, out until, out sick, office is closed, closed for the holidays, public holiday,
                christmas break, on business travel, currently travelling, currently traveling, offline until, delayed response,
                not in the office, away from my desk, absent until, inbox is not monitored, away this week, away on;
                1.2 until monday, until tuesday, until wednesday, until thursday, until friday, until next, back tomorrow,
                back next week, reply when, respond when, i'll reply, will reply, will respond, in the meantime, for urgent, if it's urgent
                """,
            .other: """
                1.2 thanks so much, thanks again, thank you for, appreciate, appreciated, kudos, congratulations, congrats, well done,
                nice work, happy holidays, attached, attached is, please find attached, here is, here's, here are, fyi, introduce,
                confirmed, received, confirming receipt, recap, minutes, notes, agenda, signed, countersigned, new address,
                update your records, testimonial, welcome, glad, recording, slides, shared the folder, reminder
                """,
        ]
        var table: [MailIntent: [(String, Double)]] = [:]
        for (intent, text) in source {
            var entries: [(String, Double)] = []
            for group in text.split(separator: ";") {
                let trimmed = group.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let space = trimmed.firstIndex(of: " "), let weight = Double(trimmed[..<space]) else { continue }
                for phrase in trimmed[space...].split(separator: ",") {
                    let words = SentimentLexicon.tokenize(String(phrase)).joined(separator: " ")
                    if !words.isEmpty { entries.append((words, weight)) }
                }
            }
            table[intent] = entries
        }
        return table
    }()
}
