% gen_ceiq.m: makes ceiq.json, the reference for baselines/ceiq.
%
% Runs the authors' CEIQ.m (github.com/mtobeiyf/CEIQ, now imfing/CEIQ, CEIQ.m at ad698a5a) unchanged in
% Octave 7.3 + octave-image 2.14 (Debian 12) with the published model.mat and Debian's libsvm-tools
% (svm-predict 3.x). CEIQ.m is not in this repository: put it in a folder and run, from this folder,
%
%   CEIQ_SRC=/path/to/folder CEIQ_MODEL=../../../../shared/data/ceiq/model.mat \
%     CALIBRA=../../../../shared/data/calibra octave --no-gui -q gen_ceiq.m
%
% Shims, for what Octave lacks or computes otherwise than MATLAB R2014a+ with the Image Processing Toolbox
% (the release ships no ssim.m, so CEIQ.m calls MATLAB's built-in ssim):
% - ssim: MATLAB's ssim(A, B) defaults: integer input taken to double, 11x11 Gaussian (sigma 1.5,
%   fspecial), imfilter 'conv' with 'replicate' borders, C1 = (0.01*255)^2, C2 = (0.03*255)^2, C3 = C2/2
%   (Eq. 13 of Wang et al.), mean of the whole map. Octave has no ssim.
% - histeq: MATLAB's histeq(I) for uint8 (64 flat target bins, the tolerance-and-min transform of
%   histeq.m, grayxform rounding 255*T). octave-image's histeq is a plain CDF map, not MATLAB's.
% - fspecial 'gaussian' as MATLAB's fspecial.m.
% - svmpredict (the libsvm MATLAB interface): writes the model struct in libsvm's text format and the
%   features with %.17g, runs Debian's svm-predict, and keeps the features (CEIQ.m does not return them).
% - rgb2gray: MATLAB's weights (0.298936021293775, 0.587043074451121, 0.114020904255103), rounded to
%   uint8; Octave 7's uses 6-digit weights, which moves pixels near a half by one grey level.
% imhist(I, 128) on uint8 is octave-image's (bin floor(x/2), as MATLAB's imhist).
1;
function I = rgb2gray(rgb)
  % MATLAB's rgb2gray on uint8: its full-precision weights, summed in double, rounded to uint8.
  % (Octave 7's rgb2gray uses 6-digit weights and differs on pixels near a half.)
  c = [0.298936021293775 0.587043074451121 0.114020904255103];
  I = double(rgb(:,:,1))*c(1) + double(rgb(:,:,2))*c(2) + double(rgb(:,:,3))*c(3);
  if isa(rgb, 'uint8'), I = uint8(I); end
end
function h = fspecial(type, hsize, sigma)
  assert(strcmp(type, 'gaussian'));
  if isscalar(hsize), hsize = [hsize hsize]; end
  s = (hsize - 1)/2;
  [x, y] = meshgrid(-s(2):s(2), -s(1):s(1));
  h = exp(-(x.*x + y.*y)/(2*(sigma*sigma)));
  h(h < eps*max(h(:))) = 0;
  h = h/sum(h(:));
end
function [ssimval, ssimmap] = ssim(A, ref)
  A = double(A); ref = double(ref);
  L = 255; C = [(0.01*L).^2 (0.03*L).^2 ((0.03*L).^2)/2];
  g = fspecial('gaussian', [11 11], 1.5);
  mux2 = imfilter(A, g, 'conv', 'replicate');
  muy2 = imfilter(ref, g, 'conv', 'replicate');
  muxy = mux2.*muy2; mux2 = mux2.^2; muy2 = muy2.^2;
  sigmax2 = imfilter(A.^2, g, 'conv', 'replicate') - mux2;
  sigmay2 = imfilter(ref.^2, g, 'conv', 'replicate') - muy2;
  sigmaxy = imfilter(A.*ref, g, 'conv', 'replicate') - muxy;
  num = (2*muxy + C(1)).*(2*sigmaxy + C(2));
  den = (mux2 + muy2 + C(1)).*(sigmax2 + sigmay2 + C(2));
  ssimmap = num./den;
  ssimval = mean(ssimmap(:));
end
function b = histeq(a)
  n = 64; NPTS = 256; m = n;
  hgram = ones(1, n)*(numel(a)/n);
  nn = imhist(a, NPTS)'; cum = cumsum(nn);
  cumd = cumsum(hgram*numel(a)/sum(hgram));
  tol = ones(m, 1)*min([nn(1:NPTS-1), 0; 0, nn(2:NPTS)])/2;
  err = (cumd(:)*ones(1, NPTS) - ones(m, 1)*cum(:)') + tol;
  d = find(err < -numel(a)*sqrt(eps));
  if ~isempty(d), err(d) = numel(a)*ones(size(d)); end
  [dum, T] = min(err);
  T = (T - 1)/(m - 1);
  b = uint8(floor(255*T(double(a) + 1) + 0.5));
  b = reshape(b, size(a));
end
function [pred, acc, dec] = svmpredict(label, feat, model)
  global LASTFEAT
  LASTFEAT = feat;
  types = {'c_svc', 'nu_svc', 'one_class', 'epsilon_svr', 'nu_svr'};
  kernels = {'linear', 'polynomial', 'rbf', 'sigmoid'};
  p = model.Parameters;
  fid = fopen('ceiq_model.txt', 'w');
  fprintf(fid, 'svm_type %s\nkernel_type %s\n', types{p(1)+1}, kernels{p(2)+1});
  if p(2) == 1, fprintf(fid, 'degree %d\n', p(3)); end
  if p(2) >= 1, fprintf(fid, 'gamma %.17g\n', p(4)); end
  if p(2) == 1 || p(2) == 3, fprintf(fid, 'coef0 %.17g\n', p(5)); end
  fprintf(fid, 'nr_class %d\ntotal_sv %d\nrho %.17g\nSV\n', model.nr_class, model.totalSV, model.rho);
  SV = full(model.SVs);
  for i = 1:size(SV, 1)
    fprintf(fid, '%.17g ', model.sv_coef(i, :));
    for j = find(SV(i, :) ~= 0), fprintf(fid, '%d:%.17g ', j, SV(i, j)); end
    fprintf(fid, '\n');
  end
  fclose(fid);
  fid = fopen('ceiq_feat.txt', 'w'); fprintf(fid, '%g', label);
  fprintf(fid, ' %d:%.17g', [1:numel(feat); feat]); fprintf(fid, '\n'); fclose(fid);
  [st, outp] = system('svm-predict ceiq_feat.txt ceiq_model.txt ceiq_pred.txt');
  assert(st == 0, outp);
  pred = load('ceiq_pred.txt'); acc = []; dec = [];
  delete('ceiq_model.txt'); delete('ceiq_feat.txt'); delete('ceiq_pred.txt');
end
function s = jvec(v)
  s = strjoin(arrayfun(@(x) sprintf('%.17g', x), v(:)', 'UniformOutput', false), ',');
end

pkg load image
global LASTFEAT
addpath(getenv('CEIQ_SRC'));
model = getenv('CEIQ_MODEL');
[st, msg] = copyfile(model, 'model.mat'); assert(st, msg);  % CEIQ.m loads model.mat from the path
calibra = getenv('CALIBRA');
names = {'I03','I04','I06','I08','I19','G0','G1','G2','G3','G4','G5','gen1','gen2','gen3'};
parts = {};
for i = 1:numel(names)
  if strncmp(names{i}, 'gen', 3)
    path = [names{i} '.png']; im = imread(path);
  else
    path = ['calibra/' names{i} '.png']; im = imread(fullfile(calibra, [names{i} '.png']));
  end
  score = CEIQ(im);
  parts{end+1} = sprintf('{"name":"%s","file":"%s","features":[%s],"score":%.17g}', ...
                         names{i}, path, jvec(LASTFEAT), score);
end
delete('model.mat');
how = ['gen_ceiq.m: CEIQ.m (imfing/CEIQ ad698a5a) with the published model.mat in Octave ' version() ...
       ' + image ' pkg('describe', 'image'){1}.version ' + Debian svm-predict; ssim, histeq, ' ...
       'fspecial(gaussian), rgb2gray, svmpredict shimmed as MATLAB/libsvm compute them'];
fid = fopen('ceiq.json', 'w');
fprintf(fid, '{"how":"%s","images":[\n%s\n]}\n', how, strjoin(parts, sprintf(',\n')));
fclose(fid);
