package dev.edgekit.demo.core

/**
 * A small JSON reader (RFC 8259) for the manifest and golden files. Kotlin's standard library has
 * no JSON parser and this module must stay free of Android (org.json) so it compiles and runs on
 * a plain JVM. Objects become LinkedHashMap<String, Any?>, arrays List<Any?>, numbers Double (or
 * Long when written without fraction/exponent), plus String, Boolean and null.
 */
class JsonException(message: String) : RuntimeException(message)

object Json {
    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipWs()
        val v = p.value()
        p.skipWs()
        if (p.pos != text.length) throw p.error("trailing characters")
        return v
    }

    private class Parser(val s: String) {
        var pos = 0

        fun error(what: String) = JsonException("invalid JSON at offset $pos: $what")

        fun skipWs() {
            while (pos < s.length && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) pos++
        }

        fun value(): Any? {
            if (pos >= s.length) throw error("unexpected end")
            val c = s[pos]
            return when {
                c == '{' -> obj()
                c == '[' -> arr()
                c == '"' -> str()
                c == 't' -> literal("true", true)
                c == 'f' -> literal("false", false)
                c == 'n' -> literal("null", null)
                c == '-' || (c in '0'..'9') -> num()
                else -> throw error("unexpected character '$c'")
            }
        }

        fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, pos)) throw error("expected $word")
            pos += word.length
            return v
        }

        fun obj(): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            pos++ // {
            skipWs()
            if (pos < s.length && s[pos] == '}') { pos++; return m }
            while (true) {
                skipWs()
                if (pos >= s.length || s[pos] != '"') throw error("expected a key")
                val k = str()
                skipWs()
                if (pos >= s.length || s[pos] != ':') throw error("expected ':'")
                pos++
                skipWs()
                m[k] = value()
                skipWs()
                if (pos >= s.length) throw error("unexpected end in object")
                if (s[pos] == ',') { pos++; continue }
                if (s[pos] == '}') { pos++; return m }
                throw error("expected ',' or '}'")
            }
        }

        fun arr(): List<Any?> {
            val a = ArrayList<Any?>()
            pos++ // [
            skipWs()
            if (pos < s.length && s[pos] == ']') { pos++; return a }
            while (true) {
                skipWs()
                a.add(value())
                skipWs()
                if (pos >= s.length) throw error("unexpected end in array")
                if (s[pos] == ',') { pos++; continue }
                if (s[pos] == ']') { pos++; return a }
                throw error("expected ',' or ']'")
            }
        }

        fun str(): String {
            pos++ // opening quote
            val sb = StringBuilder()
            while (true) {
                if (pos >= s.length) throw error("unterminated string")
                val c = s[pos++]
                when (c) {
                    '"' -> return sb.toString()
                    '\\' -> {
                        if (pos >= s.length) throw error("bad escape")
                        val e = s[pos++]
                        when (e) {
                            '"' -> sb.append('"')
                            '\\' -> sb.append('\\')
                            '/' -> sb.append('/')
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (pos + 4 > s.length) throw error("bad \\u escape")
                                val code = Integer.parseInt(s.substring(pos, pos + 4), 16)
                                sb.append('\u0000' + code)
                                pos += 4
                            }
                            else -> throw error("bad escape \\$e")
                        }
                    }
                    else -> sb.append(c)
                }
            }
        }

        fun num(): Any {
            val start = pos
            if (s[pos] == '-') pos++
            var integral = true
            while (pos < s.length) {
                val c = s[pos]
                if (c in '0'..'9') { pos++; continue }
                if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integral = false; pos++; continue }
                break
            }
            val t = s.substring(start, pos)
            try {
                return if (integral) t.toLong() else t.toDouble()
            } catch (e: NumberFormatException) {
                throw error("bad number '$t'")
            }
        }
    }
}

/** Typed access to parsed JSON by dotted path ("preprocessing.mean", "inputs.0.shape"). */
class JsonPath(val root: Any?) {
    fun find(path: String): Any? {
        var cur: Any? = root
        for (part in path.split('.')) {
            cur = when (cur) {
                is Map<*, *> -> cur[part]
                is List<*> -> {
                    val i = part.toIntOrNull() ?: return null
                    if (i < 0 || i >= cur.size) null else cur[i]
                }
                else -> return null
            }
        }
        return cur
    }

    fun has(path: String): Boolean {
        val i = path.lastIndexOf('.')
        val parent = if (i < 0) root else find(path.substring(0, i))
        val last = path.substring(i + 1)
        return when (parent) {
            is Map<*, *> -> parent.containsKey(last)
            is List<*> -> last.toIntOrNull()?.let { it >= 0 && it < parent.size } ?: false
            else -> false
        }
    }

    fun string(path: String): String = find(path) as? String ?: throw missing(path, "a string")
    fun stringOrNull(path: String): String? = find(path) as? String
    fun number(path: String): Double = (find(path) as? Number)?.toDouble() ?: throw missing(path, "a number")
    fun numberOrNull(path: String): Double? = (find(path) as? Number)?.toDouble()
    fun int(path: String): Int {
        val v = find(path)
        if (v is Long) return v.toInt()
        if (v is Double && v == Math.floor(v)) return v.toInt()
        throw missing(path, "an integer")
    }
    fun intOrNull(path: String): Int? = if (find(path) is Number) int(path) else null
    fun list(path: String): List<Any?> = find(path) as? List<Any?> ?: throw missing(path, "an array")
    fun numbers(path: String): DoubleArray {
        val l = list(path)
        return DoubleArray(l.size) { (l[it] as? Number)?.toDouble() ?: throw missing("$path.$it", "a number") }
    }
    fun ints(path: String): IntArray {
        val l = list(path)
        return IntArray(l.size) { int("$path.$it") }
    }
    fun strings(path: String): List<String> = list(path).mapIndexed { i, v -> v as? String ?: throw missing("$path.$i", "a string") }
    fun isNullOrAbsent(path: String): Boolean = find(path) == null

    private fun missing(path: String, what: String) = JsonException("manifest field '$path' must be $what")
}
