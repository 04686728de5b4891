import Foundation
import StrictrunTrace

/// Bar charts drawn as inline SVG (no script, no external file): every bar is a
/// `<rect class="bar">` with `data-label` and `data-value`, and a `<title>` for the tooltip.
public enum SVGChart {
    /// One bar.
    public struct Bar: Sendable {
        public var label: String
        public var value: Int
        public var color: String
        /// A longer text for the tooltip.
        public var detail: String?
        /// Extra `data-` attributes (e.g. `category`, `site`).
        public var data: [(String, String)]

        public init(label: String, value: Int, color: String, detail: String? = nil, data: [(String, String)] = []) {
            self.label = label
            self.value = value
            self.color = color
            self.detail = detail
            self.data = data
        }
    }

    /// Vertical bars, one per item, with the value above each and the label below.
    public static func columns(_ bars: [Bar], title: String, id: String, unit: String, width: Int = 640, height: Int = 280) -> String {
        let left = 48, right = 16, top = 34, bottom = 46
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maximum = niceMaximum(bars.map(\.value).max() ?? 0)
        let slot = bars.isEmpty ? plotWidth : plotWidth / bars.count
        let barWidth = min(72, max(8, slot * 6 / 10))
        var svg = header(id: id, title: title, width: width, height: height)
        svg += "<text x=\"\(left)\" y=\"20\" class=\"chart-title\">\(HTML.escape(title))</text>"
        for tick in ticks(maximum) {
            let y = top + plotHeight - Int(Double(plotHeight) * Double(tick) / Double(maximum))
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(width - right)\" y2=\"\(y)\" class=\"grid\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" class=\"axis\" text-anchor=\"end\">\(tick)</text>"
        }
        for (index, bar) in bars.enumerated() {
            let h = maximum == 0 ? 0 : Int((Double(plotHeight) * Double(bar.value) / Double(maximum)).rounded())
            let x = left + index * slot + (slot - barWidth) / 2
            let y = top + plotHeight - h
            svg += "<g class=\"column\">"
            svg += rect(bar, x: x, y: y, width: barWidth, height: max(h, bar.value > 0 ? 1 : 0), unit: unit)
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(y - 6)\" class=\"value\" text-anchor=\"middle\">\(bar.value)</text>"
            svg += "<text x=\"\(x + barWidth / 2)\" y=\"\(top + plotHeight + 18)\" class=\"label\" text-anchor=\"middle\">"
                + "\(HTML.escape(truncate(bar.label, max(6, slot / 7))))</text>"
            svg += "</g>"
        }
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - right)\" y2=\"\(top + plotHeight)\" class=\"axis-line\"/>"
        if bars.isEmpty {
            svg += "<text x=\"\(width / 2)\" y=\"\(top + plotHeight / 2)\" class=\"empty\" text-anchor=\"middle\">nothing to show</text>"
        }
        return svg + "</svg>"
    }

    /// Horizontal bars, one row per item: label on the left, the value after the bar.
    public static func rows(_ bars: [Bar], title: String, id: String, unit: String, width: Int = 880) -> String {
        let labelWidth = 420, right = 50, top = 34, rowHeight = 26
        let height = top + max(1, bars.count) * rowHeight + 12
        let plotWidth = width - labelWidth - right
        let maximum = max(1, bars.map(\.value).max() ?? 0)
        var svg = header(id: id, title: title, width: width, height: height)
        svg += "<text x=\"8\" y=\"20\" class=\"chart-title\">\(HTML.escape(title))</text>"
        for (index, bar) in bars.enumerated() {
            let y = top + index * rowHeight
            let w = Int((Double(plotWidth) * Double(bar.value) / Double(maximum)).rounded())
            svg += "<g class=\"row\">"
            svg += "<text x=\"\(labelWidth - 8)\" y=\"\(y + 17)\" class=\"label\" text-anchor=\"end\">"
                + "\(HTML.escape(truncate(bar.label, 56)))</text>"
            svg += rect(bar, x: labelWidth, y: y + 4, width: max(w, bar.value > 0 ? 1 : 0), height: rowHeight - 8, unit: unit)
            svg += "<text x=\"\(labelWidth + w + 6)\" y=\"\(y + 17)\" class=\"value\">\(bar.value)</text>"
            svg += "</g>"
        }
        if bars.isEmpty {
            svg += "<text x=\"\(width / 2)\" y=\"\(top + 16)\" class=\"empty\" text-anchor=\"middle\">nothing to show</text>"
        }
        return svg + "</svg>"
    }

    private static func header(id: String, title: String, width: Int, height: Int) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"\(HTML.escape(id))\" role=\"img\" "
            + "aria-label=\"\(HTML.escape(title))\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\">"
    }

    private static func rect(_ bar: Bar, x: Int, y: Int, width: Int, height: Int, unit: String) -> String {
        var attributes = "class=\"bar\" x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"\(bar.color)\" "
            + "data-label=\"\(HTML.escape(bar.label))\" data-value=\"\(bar.value)\""
        for (name, value) in bar.data { attributes += " data-\(name)=\"\(HTML.escape(value))\"" }
        let tooltip = "\(bar.detail ?? bar.label): \(bar.value) \(unit)"
        return "<rect \(attributes)><title>\(HTML.escape(tooltip))</title></rect>"
    }

    /// 1, 2, 5 × 10^n at or above `value` (at least 1).
    static func niceMaximum(_ value: Int) -> Int {
        guard value > 0 else { return 1 }
        var magnitude = 1
        while magnitude * 10 <= value { magnitude *= 10 }
        for step in [1, 2, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    static func ticks(_ maximum: Int) -> [Int] {
        let step = max(1, maximum / 5)
        return Array(stride(from: 0, through: maximum, by: step))
    }

    static func truncate(_ text: String, _ length: Int) -> String {
        text.count <= length ? text : String(text.prefix(max(1, length - 1))) + "…"
    }

    /// A stable color per category (`Category.colour`).
    public static func color(category: String) -> String { Category.named(category).colour }
}

/// HTML text escaping.
public enum HTML {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
