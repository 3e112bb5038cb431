package dev.edgekit.demo

import android.content.Context
import dev.edgekit.demo.core.AssetPaths
import dev.edgekit.demo.core.Manifest
import java.io.File

/**
 * The bundled artifact: `assets/edgekit/manifest.json` names the model file beside it (and the
 * trainable-head files). Runtimes need real files, so the folder is copied once to
 * files/edgekit/ (again whenever the bundled manifest changes).
 */
class ModelAssets private constructor(val manifest: Manifest, val dir: File, val manifestText: String) {
    val model: File get() = File(dir, manifest.artifactFile)
    val backbone: File? get() = manifest.trainableHead?.let { File(dir, it.backboneFile) }
    val trainStep: File? get() = manifest.trainableHead?.let { File(dir, it.trainStepFile) }

    /** Identifies this artifact (a taught head belongs to one backbone). */
    val key: String get() = Integer.toHexString(manifestText.hashCode())

    companion object {
        fun load(context: Context): ModelAssets {
            val text = try {
                context.assets.open(AssetPaths.MANIFEST).bufferedReader().use { it.readText() }
            } catch (e: java.io.IOException) {
                throw IllegalStateException(
                    "no model bundled: run `edgekit export MODEL --target tflite|executorch --bundle android_demo` and rebuild"
                )
            }
            val manifest = Manifest.parse(text)
            val dir = File(context.filesDir, AssetPaths.DIR)
            val copied = File(dir, "manifest.json")
            if (!copied.isFile || copied.readText() != text) {
                dir.deleteRecursively()
                dir.mkdirs()
                val names = listOfNotNull(
                    manifest.artifactFile,
                    manifest.trainableHead?.backboneFile,
                    manifest.trainableHead?.trainStepFile
                )
                for (name in names) copyAsset(context, "${AssetPaths.DIR}/$name", File(dir, name))
                val tmp = File(dir, "manifest.json.tmp")
                tmp.writeText(text)
                tmp.renameTo(copied)
            }
            return ModelAssets(manifest, dir, text)
        }

        private fun copyAsset(context: Context, path: String, dst: File) {
            val tmp = File(dst.path + ".tmp")
            context.assets.open(path).use { input -> tmp.outputStream().use { input.copyTo(it) } }
            if (!tmp.renameTo(dst)) throw java.io.IOException("cannot write $dst")
        }
    }
}
