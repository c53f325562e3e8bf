import Foundation
import Sandbox

/// Recurring events as `events.list?singleEvents=true` returns them: each occurrence of the
/// event's `RRULE` (FREQ DAILY or WEEKLY, INTERVAL, COUNT or UNTIL; at most 60 occurrences) as an
/// instance with id `<event id>_<start in UTC, basic format>` (`_<date>` for all-day events),
/// `recurringEventId`, `originalStartTime`, its own start and end, and no `recurrence`. A
/// cancelled series gives cancelled instances.
enum Recurrence {
    static let maximumInstances = 60

    static func instances(of event: JSON) -> [JSON] {
        guard let rule = event["recurrence"].arrayValue?.compactMap(\.stringValue).first(where: { $0.hasPrefix("RRULE:") }),
              let id = event["id"].stringValue else { return [event] }
        var parts: [String: String] = [:]
        for part in rule.dropFirst(6).split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { parts[String(pair[0])] = String(pair[1]) }
        }
        let step: TimeInterval
        switch parts["FREQ"] {
        case "DAILY": step = 86_400
        case "WEEKLY": step = 7 * 86_400
        default: return [event]  // other frequencies are not expanded by the stand-in
        }
        let interval = TimeInterval(Int(parts["INTERVAL"] ?? "1") ?? 1)
        let count = min(Int(parts["COUNT"] ?? "") ?? maximumInstances, maximumInstances)
        let until = parts["UNTIL"].flatMap { basic.date(from: $0) ?? day.date(from: $0) }
        let allDay = event["start"]["date"].stringValue != nil
        guard let start = time(event["start"]), let end = time(event["end"]) else { return [event] }
        var instances: [JSON] = []
        for n in 0..<count {
            let offset = TimeInterval(n) * interval * step
            let instanceStart = start.addingTimeInterval(offset)
            if let until, instanceStart > until { break }
            var instance = event
            instance.remove("recurrence")
            instance["id"] = .string("\(id)_\(allDay ? day.string(from: instanceStart) : basic.string(from: instanceStart))")
            instance["recurringEventId"] = .string(id)
            instance["start"] = render(instanceStart, like: event["start"], allDay: allDay)
            instance["end"] = render(end.addingTimeInterval(offset), like: event["end"], allDay: allDay)
            instance["originalStartTime"] = instance["start"]
            instances.append(instance)
        }
        return instances
    }

    private static func time(_ value: JSON) -> Date? {
        if let text = value["dateTime"].stringValue { return ISO8601DateFormatter().date(from: text) }
        return value["date"].stringValue.flatMap { dashed.date(from: $0) }
    }

    private static func render(_ date: Date, like original: JSON, allDay: Bool) -> JSON {
        var value = original
        if allDay {
            value["date"] = .string(dashed.string(from: date))
        } else {
            value["dateTime"] = .string(ISO8601DateFormatter().string(from: date))
        }
        return value
    }

    private static func formatter(_ format: String) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = format
        return f
    }

    private static let basic = formatter("yyyyMMdd'T'HHmmss'Z'")
    private static let day = formatter("yyyyMMdd")
    private static let dashed = formatter("yyyy-MM-dd")
}
