import Foundation

/// Sentiment by a valence lexicon with rules, after VADER (Hutto & Gilbert, 2014):
///
/// - every word in the lexicon has a valence from -4 to +4;
/// - a negator (`not`, `never`, `no`, `-n't` …) within the three words before flips it and
///   shrinks it (× -0.74);
/// - an intensifier right before (`very`, `really`, `extremely` …) adds 0.293 of magnitude, a
///   dampener (`slightly`, `somewhat` …) takes it away;
/// - `but` shifts the weight to what follows: words before it count half, words after it 1.5×;
/// - each `!` (up to four) adds 0.292 in the direction of the sum;
/// - the sum `x` becomes `x / sqrt(x² + 15)`, a score in (-1, 1).
///
/// Labels: `positive` from +0.35, `negative` up to -0.2, `neutral` between. Business mail is
/// polite by habit ("thanks", "great", "please") — politeness alone should not read as positive,
/// which is why the positive line sits higher than VADER's ±0.05 (chosen on the training part of
/// the labelled set).
public enum SentimentLexicon {
    public struct Result: Sendable, Hashable {
        public var score: Double
        public var label: SentimentLabel
        /// The words that counted, each with its adjusted valence (`not happy -1.5`).
        public var cues: [String]
    }

    public static let positiveThreshold = 0.35
    public static let negativeThreshold = -0.2

    public static func score(_ text: String) -> Result {
        let tokens = tokenize(text)
        var contributions: [(index: Int, value: Double, cue: String)] = []
        for (index, token) in tokens.enumerated() {
            guard var value = lexicon[token] else { continue }
            var cue = token
            // Intensifier or dampener right before.
            if index > 0, let boost = boosters[tokens[index - 1]] {
                value += value > 0 ? boost : -boost
                cue = tokens[index - 1] + " " + cue
            }
            // A negator in the three words before.
            if let negator = tokens[max(0, index - 3)..<index].last(where: isNegator) {
                value *= -0.74
                cue = negator + " … " + cue
            }
            contributions.append((index, value, cue))
        }
        // "but": what follows outweighs what precedes.
        if let but = tokens.firstIndex(of: "but") {
            contributions = contributions.map { ($0.index, $0.value * ($0.index < but ? 0.5 : 1.5), $0.cue) }
        }
        var sum = contributions.reduce(0) { $0 + $1.value }
        let exclamations = min(4, text.filter { $0 == "!" }.count)
        if sum != 0 { sum += Double(exclamations) * 0.292 * (sum > 0 ? 1 : -1) }
        let score = sum / (sum * sum + 15).squareRoot()
        let label: SentimentLabel = score >= positiveThreshold ? .positive : score <= negativeThreshold ? .negative : .neutral
        let cues = contributions.map { "\($0.cue) \(String(format: "%+.1f", $0.value))" }
        return Result(score: (score * 1000).rounded() / 1000, label: label, cues: cues)
    }

    /// Lower-cased words; `can't` → `can't` (kept whole, a negator), punctuation dropped.
    /// (Scalar by scalar, without Foundation: a sync analyses thousands of messages.)
    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var word = String.UnicodeScalarView()
        func flush() {
            while word.last == "'" { word.removeLast() }
            if !word.isEmpty { tokens.append(String(word)) }
            word = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                switch scalar.value {
                case 0x41...0x5A: word.append(Unicode.Scalar(scalar.value + 32)!)
                case 0x61...0x7A: word.append(scalar)
                case 0x27 where !word.isEmpty: word.append(scalar)
                default: flush()
                }
            } else if scalar == "\u{2019}" {
                if !word.isEmpty { word.append("'") }
            } else if scalar.properties.isAlphabetic {
                word.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                flush()
            }
        }
        flush()
        return tokens
    }

    static func isNegator(_ token: String) -> Bool {
        negators.contains(token) || token.hasSuffix("n't")
    }

    static let negators: Set<String> = ["not", "no", "never", "nobody", "nothing", "neither", "nor", "none", "cannot", "without", "hardly",
                                        "barely", "dont", "cant", "wont", "isnt", "doesnt", "didnt", "wasnt", "arent"]

    static let boosters: [String: Double] = [
        "very": 0.293, "really": 0.293, "extremely": 0.293, "so": 0.293, "incredibly": 0.293, "absolutely": 0.293, "totally": 0.293,
        "completely": 0.293, "highly": 0.293, "truly": 0.293, "super": 0.293, "deeply": 0.293, "utterly": 0.293, "most": 0.293,
        "slightly": -0.293, "somewhat": -0.293, "fairly": -0.293, "barely": -0.293, "little": -0.293, "marginally": -0.293,
    ]

    /// Word → valence, from -4 (worst) to +4 (best). Written for business mail.
    static let lexicon: [String: Double] = {
        let entries = """
        love:3.2 loved:2.9 lovely:2.8 amazing:2.8 awesome:3.1 fantastic:2.6 excellent:2.7 great:1.9 brilliant:2.8 wonderful:2.7
        perfect:2.7 perfectly:2.6 impressed:2.1 impressive:2.2 excited:2.2 exciting:2.2 keen:1.4 glad:2.0 happy:2.2 pleased:1.9
        delighted:2.8 enjoy:2.1 enjoying:2.1 enjoyed:2.1 appreciate:1.9 appreciated:1.9 thanks:0.9 thank:0.9 grateful:2.0
        congratulations:2.5 congrats:2.4 kudos:2.3 well:0.4 good:1.6 nice:1.7 smooth:1.3 productive:1.7 helpful:1.8 useful:1.4
        informative:1.5 success:2.1 successful:2.1 works:0.6 win:2.0 pleasure:2.2 welcome:1.3 glad:2.0 excellent:2.7 best:2.0
        interested:0.9 interesting:1.3 fan:1.3 recommend:1.5 proud:2.0 thrilled:2.9 superb:2.9 smoothly:1.3 reliable:1.6 easy:1.5
        wow:2.0 yay:2.4 cool:1.3 fine:0.8 enjoyable:2.0 solid:1.2 approved:1.4 lucky:1.5 hope:0.9 fun:2.0 beautiful:2.5
        bad:-2.5 worse:-2.1 worst:-3.1 terrible:-3.0 awful:-3.1 horrible:-2.9 poor:-2.1 poorly:-2.0 disappointed:-2.2 disappointing:-2.3
        frustrated:-2.2 frustrating:-2.2 angry:-2.7 annoyed:-1.9 upset:-2.1 unhappy:-2.2 unacceptable:-2.6 ridiculous:-2.1 shocking:-2.3
        disgusted:-2.9 hate:-2.9 hates:-2.9 broken:-1.8 broke:-1.6 crash:-1.9 crashes:-1.9 fail:-2.0 fails:-2.0 failed:-2.0 failing:-2.1
        failure:-2.2 error:-1.4 errors:-1.4 bug:-1.3 bugs:-1.4 wrong:-1.8 problem:-1.5 problems:-1.6 issue:-1.0 issues:-1.1 worried:-1.8
        worry:-1.6 rough:-1.5 slow:-1.0 stuck:-1.4 lost:-1.5 lose:-1.5 loss:-1.7 missing:-1.1 disappeared:-1.6 down:-0.9 outage:-1.9
        outages:-2.0 downtime:-1.8 overcharged:-2.3 misled:-2.5 misleading:-2.3 cheated:-2.9 rude:-2.5 dismissive:-2.0 ignored:-1.8
        unprofessional:-2.4 unprepared:-1.7 dissatisfied:-2.3 complaint:-1.8 complain:-1.7 wasted:-2.1 waste:-2.0 refund:-0.9
        spam:-2.0 harassment:-3.0 breach:-2.3 joke:-1.0 late:-1.1 hidden:-1.0 unfortunately:-1.6 sadly:-1.8 sorry:-0.8
        annoying:-2.2 useless:-2.6 mess:-2.1 chaos:-2.0 nightmare:-3.0 painful:-2.3 concern:-1.2 concerned:-1.5 unclear:-0.9 confusing:-1.6
        demand:-1.2 dispute:-1.6 enough:-0.6 fed:-1.0 furious:-3.2 hated:-2.9 bouncing:-1.2 hates:-2.9 cheat:-2.7 scam:-3.0
        trust:1.3 lost:-1.5 broken:-1.8 deliberately:-0.8 hurt:-2.4 damage:-2.1 damaged:-2.1 bad:-2.5
        """
        var lexicon: [String: Double] = [:]
        for entry in entries.split(whereSeparator: \.isWhitespace) {
            let parts = entry.split(separator: ":")
            if parts.count == 2, let value = Double(parts[1]) { lexicon[String(parts[0])] = value }
        }
        return lexicon
    }()
}
