package dev.edgekit.demo

import androidx.camera.core.ImageProxy
import dev.edgekit.demo.core.RgbImage

/** CameraX RGBA_8888 frame -> upright RgbImage (the pure-Kotlin core does the rotation). */
object FrameConverter {
    fun toRgb(image: ImageProxy): RgbImage {
        val plane = image.planes[0]
        val buf = plane.buffer
        buf.rewind()
        val rowStride = plane.rowStride
        val data = ByteArray(rowStride * image.height)
        buf.get(data, 0, Math.min(buf.remaining(), data.size))
        return RgbImage.fromRgba(image.width, image.height, data, rowStride, image.imageInfo.rotationDegrees)
    }
}
