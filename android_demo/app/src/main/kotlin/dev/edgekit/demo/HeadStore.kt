package dev.edgekit.demo

import android.content.Context
import dev.edgekit.demo.core.LinearHead
import java.io.File

/** The taught head on disk (files/taught_head-<model key>.bin), written atomically, kept across restarts. */
class HeadStore(context: Context, modelKey: String) {
    private val file = File(context.filesDir, "taught_head-$modelKey.bin")

    fun load(): LinearHead? = if (file.isFile) {
        try {
            LinearHead.fromBytes(file.readBytes())
        } catch (e: Exception) {
            null
        }
    } else null

    fun save(head: LinearHead) {
        val tmp = File(file.path + ".tmp")
        tmp.writeBytes(head.toBytes())
        if (!tmp.renameTo(file)) throw java.io.IOException("cannot write $file")
    }

    fun clear() {
        file.delete()
    }
}
